package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/trials"
)

const tokenCols = `id, name, scopes, hash, created_at, expires_at, revoked_at, last_used_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanToken(row rowScanner) (*auth.Token, error) {
	var (
		t      auth.Token
		scopes string
	)
	err := row.Scan(&t.ID, &t.Name, &scopes, &t.Hash, timeDest{&t.CreatedAt},
		optTimeDest{&t.ExpiresAt}, optTimeDest{&t.RevokedAt}, optTimeDest{&t.LastUsedAt})
	if err != nil {
		return nil, err
	}
	t.Scopes = auth.SplitScopes(scopes)
	return &t, nil
}

// CreateToken stores a token (name, scopes, hash, expiry) and returns it
// with its id and creation time. A live token of the same name is
// ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) (_ *auth.Token, err error) {
	defer wrap(&err, "CreateToken(%q)", t.Name)
	var out *auth.Token
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		var err error
		out, err = insertToken(ctx, tx, t, now)
		return err
	})
	return out, err
}

// CreateFirstToken stores t only when the store has no token at all, and
// returns nil otherwise. The write lock makes the check and the insert one
// step.
func (s *Store) CreateFirstToken(ctx context.Context, t auth.Token) (_ *auth.Token, err error) {
	defer wrap(&err, "CreateFirstToken(%q)", t.Name)
	var out *auth.Token
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		out = nil
		var any bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tokens)`).Scan(&any); err != nil || any {
			return err
		}
		var err error
		out, err = insertToken(ctx, tx, t, now)
		return err
	})
	return out, err
}

func insertToken(ctx context.Context, tx *sql.Tx, t auth.Token, now time.Time) (*auth.Token, error) {
	if err := storableTime("expires_at", t.ExpiresAt); err != nil {
		return nil, err
	}
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL)`, t.Name).Scan(&taken); err != nil {
		return nil, err
	}
	if taken {
		return nil, trials.Conflictf("a token named %q exists; revoke it or pick another name", t.Name)
	}
	return scanToken(tx.QueryRowContext(ctx, `
		INSERT INTO tokens (name, scopes, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
		RETURNING `+tokenCols,
		t.Name, auth.JoinScopes(t.Scopes), t.Hash, nanos(now), optionalNanos(t.ExpiresAt)))
}

// TokenByHash finds the token whose secret hashes to hash, revoked and
// expired ones included (the caller says why they cannot be used).
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (_ *auth.Token, err error) {
	defer wrap(&err, "TokenByHash")
	var out *auth.Token
	err = s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return trials.NotFoundf("no such token")
		}
		return err
	})
	return out, err
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) (_ []auth.Token, err error) {
	defer wrap(&err, "ListTokens")
	out := []auth.Token{}
	err = s.read(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return err
			}
			out = append(out, *t)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeToken revokes a token; revoking it again changes nothing.
// ErrNotFound for an unknown id.
func (s *Store) RevokeToken(ctx context.Context, id int64) (_ *auth.Token, err error) {
	defer wrap(&err, "RevokeToken(%d)", id)
	var out *auth.Token
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `
			UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING `+tokenCols, nanos(now), id))
		if errors.Is(err, sql.ErrNoRows) {
			return trials.NotFoundf("token %d not found", id)
		}
		return err
	})
	return out, err
}

// TouchToken records that a token was used now. Callers rate-limit it.
func (s *Store) TouchToken(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "TouchToken(%d)", id)
	return s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, nanos(now), id)
		return err
	})
}
