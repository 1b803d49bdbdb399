package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/trials"
)

// TokenStore is what the token tests need of a store.
type TokenStore interface {
	CreateToken(ctx context.Context, t auth.Token) (*auth.Token, error)
	CreateFirstToken(ctx context.Context, t auth.Token) (*auth.Token, error)
	TokenByHash(ctx context.Context, hash []byte) (*auth.Token, error)
	ListTokens(ctx context.Context) ([]auth.Token, error)
	RevokeToken(ctx context.Context, id int64) (*auth.Token, error)
	TouchToken(ctx context.Context, id int64) error
}

// RunTokens tests a store's tokens. open returns a store on a fresh,
// migrated, empty database and a database/sql handle on that same
// database, through which the test reads the stored rows as they are.
func RunTokens(t *testing.T, open func(t *testing.T) (TokenStore, *sql.DB)) {
	t.Run("CreateFindRevoke", func(t *testing.T) { testTokenLifecycle(t, open) })
	t.Run("OnlyTheHashIsStored", func(t *testing.T) { testTokenOnlyHashStored(t, open) })
	t.Run("CreateFirstToken", func(t *testing.T) { testCreateFirstToken(t, open) })
}

func newToken(t *testing.T, name string, scopes ...auth.Scope) (auth.Token, string) {
	t.Helper()
	secret, hash, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return auth.Token{Name: name, Scopes: scopes, Hash: hash}, secret
}

func testTokenLifecycle(t *testing.T, open func(t *testing.T) (TokenStore, *sql.DB)) {
	ctx := context.Background()
	s, _ := open(t)
	if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListTokens on an empty store = %v, %v; want none", got, err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	ci, ciSecret := newToken(t, "ci", auth.Read, auth.Runner)
	ci.ExpiresAt = &exp
	created, err := s.CreateToken(ctx, ci)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || created.CreatedAt.IsZero() || created.Name != "ci" ||
		!slices.Equal(created.Scopes, []auth.Scope{auth.Read, auth.Runner}) ||
		created.ExpiresAt == nil || !created.ExpiresAt.Equal(exp) || created.RevokedAt != nil || created.LastUsedAt != nil {
		t.Fatalf("CreateToken = %+v", created)
	}
	// A live name is taken; another name is fine.
	dup, _ := newToken(t, "ci", auth.Admin)
	if _, err := s.CreateToken(ctx, dup); !errors.Is(err, trials.ErrConflict) {
		t.Fatalf("second live token named ci: err = %v, want a conflict", err)
	}
	other, _ := newToken(t, "alice", auth.Write)
	if _, err := s.CreateToken(ctx, other); err != nil {
		t.Fatal(err)
	}

	found, err := s.TokenByHash(ctx, auth.HashSecret(ciSecret))
	if err != nil {
		t.Fatal(err)
	}
	if found.ID != created.ID || !found.Matches(ciSecret) {
		t.Fatalf("TokenByHash found %+v, want token %d", found, created.ID)
	}
	if _, err := s.TokenByHash(ctx, auth.HashSecret("tune_nope")); !errors.Is(err, trials.ErrNotFound) {
		t.Fatalf("TokenByHash of an unknown secret: err = %v, want not found", err)
	}

	if err := s.TouchToken(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if found, err = s.TokenByHash(ctx, created.Hash); err != nil || found.LastUsedAt == nil {
		t.Fatalf("after TouchToken: %+v, %v; want last_used_at set", found, err)
	}

	revoked, err := s.RevokeToken(ctx, created.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("RevokeToken = %+v, %v", revoked, err)
	}
	again, err := s.RevokeToken(ctx, created.ID)
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Fatalf("revoking twice = %+v, %v; want the first revocation kept", again, err)
	}
	if _, err := s.RevokeToken(ctx, 987654); !errors.Is(err, trials.ErrNotFound) {
		t.Fatalf("RevokeToken(unknown): err = %v, want not found", err)
	}
	// A revoked token is still found (so that the caller can say why it
	// is refused), and its name is free again.
	if found, err = s.TokenByHash(ctx, created.Hash); err != nil || found.RevokedAt == nil || found.Usable(time.Now()) == "" {
		t.Fatalf("revoked token by hash = %+v, %v", found, err)
	}
	if _, err := s.CreateToken(ctx, dup); err != nil {
		t.Fatalf("reusing a revoked token's name: %v", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range list {
		names = append(names, fmt.Sprintf("%s:%v", tok.Name, tok.RevokedAt != nil))
	}
	if want := []string{"ci:true", "alice:false", "ci:false"}; !slices.Equal(names, want) {
		t.Fatalf("ListTokens = %v, want %v", names, want)
	}
}

// testTokenOnlyHashStored reads every stored column: the secret appears
// nowhere, its SHA-256 does.
func testTokenOnlyHashStored(t *testing.T, open func(t *testing.T) (TokenStore, *sql.DB)) {
	ctx := context.Background()
	s, db := open(t)
	tok, secret := newToken(t, "admin", auth.Admin)
	if _, err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT * FROM tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	sawHash := false
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var b []byte
			switch v := v.(type) {
			case []byte:
				b = v
			case string:
				b = []byte(v)
			default:
				b = []byte(fmt.Sprint(v))
			}
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(secret[len(auth.SecretPrefix):])) {
				t.Errorf("column %s holds the secret", cols[i])
			}
			if bytes.Equal(b, auth.HashSecret(secret)) {
				sawHash = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !sawHash {
		t.Error("no column holds the secret's SHA-256")
	}
}

func testCreateFirstToken(t *testing.T, open func(t *testing.T) (TokenStore, *sql.DB)) {
	ctx := context.Background()
	s, _ := open(t)
	first, _ := newToken(t, "admin", auth.Admin)
	got, err := s.CreateFirstToken(ctx, first)
	if err != nil || got == nil || got.Name != "admin" {
		t.Fatalf("CreateFirstToken on an empty store = %+v, %v", got, err)
	}
	second, _ := newToken(t, "admin-2", auth.Admin)
	got, err = s.CreateFirstToken(ctx, second)
	if err != nil || got != nil {
		t.Fatalf("CreateFirstToken with a token present = %+v, %v; want nothing created", got, err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListTokens = %v, %v; want the first token only", list, err)
	}
}
