package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/trials"
)

const tokenCols = `id, name, scopes, hash, created_at, expires_at, revoked_at, last_used_at`

func scanToken(row pgx.Row) (*auth.Token, error) {
	var (
		t      auth.Token
		scopes string
	)
	if err := row.Scan(&t.ID, &t.Name, &scopes, &t.Hash, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt); err != nil {
		return nil, err
	}
	t.Scopes = auth.SplitScopes(scopes)
	utc(&t)
	return &t, nil
}

func utc(t *auth.Token) {
	t.CreatedAt = t.CreatedAt.UTC()
	for _, p := range []*time.Time{t.ExpiresAt, t.RevokedAt, t.LastUsedAt} {
		if p != nil {
			*p = p.UTC()
		}
	}
}

// CreateToken stores a token (name, scopes, hash, expiry) and returns it
// with its id and creation time. A live token of the same name is
// ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) (_ *auth.Token, err error) {
	defer wrap(&err, "CreateToken(%q)", t.Name)
	out, err := scanToken(s.pool.QueryRow(ctx, `
		INSERT INTO tokens (name, scopes, hash, created_at, expires_at)
		VALUES (@name, @scopes, @hash, now() + @clock_offset::interval, @expires)
		RETURNING `+tokenCols,
		s.args(pgx.NamedArgs{"name": t.Name, "scopes": auth.JoinScopes(t.Scopes), "hash": t.Hash, "expires": t.ExpiresAt})))
	if isUniqueViolation(err, "tokens_live_name_key") {
		return nil, trials.Conflictf("a token named %q exists; revoke it or pick another name", t.Name)
	}
	return out, err
}

// CreateFirstToken stores t only when the store has no token at all, and
// reports whether it did. Replicas starting at once create one between
// them: the transaction-scoped advisory lock orders them.
func (s *Store) CreateFirstToken(ctx context.Context, t auth.Token) (_ *auth.Token, err error) {
	defer wrap(&err, "CreateFirstToken(%q)", t.Name)
	var out *auth.Token
	err = s.transact(ctx, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('tune.tokens.first'))`); err != nil {
			return err
		}
		var any bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens)`).Scan(&any); err != nil || any {
			return err
		}
		var err error
		out, err = scanToken(tx.QueryRow(ctx, `
			INSERT INTO tokens (name, scopes, hash, created_at, expires_at)
			VALUES (@name, @scopes, @hash, now() + @clock_offset::interval, @expires)
			RETURNING `+tokenCols,
			s.args(pgx.NamedArgs{"name": t.Name, "scopes": auth.JoinScopes(t.Scopes), "hash": t.Hash, "expires": t.ExpiresAt})))
		return err
	})
	return out, err
}

// TokenByHash finds the token whose secret hashes to hash, revoked and
// expired ones included (the caller says why they cannot be used).
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (_ *auth.Token, err error) {
	defer wrap(&err, "TokenByHash")
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.NotFoundf("no such token")
	}
	return t, err
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) (_ []auth.Token, err error) {
	defer wrap(&err, "ListTokens")
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []auth.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token; revoking it again changes nothing.
// ErrNotFound for an unknown id.
func (s *Store) RevokeToken(ctx context.Context, id int64) (_ *auth.Token, err error) {
	defer wrap(&err, "RevokeToken(%d)", id)
	t, err := scanToken(s.pool.QueryRow(ctx, `
		UPDATE tokens SET revoked_at = coalesce(revoked_at, now() + @clock_offset::interval)
		WHERE id = @id RETURNING `+tokenCols, s.args(pgx.NamedArgs{"id": id})))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.NotFoundf("token %d not found", id)
	}
	return t, err
}

// TouchToken records that a token was used now. Callers rate-limit it.
func (s *Store) TouchToken(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "TouchToken(%d)", id)
	_, err = s.pool.Exec(ctx, `UPDATE tokens SET last_used_at = now() + @clock_offset::interval WHERE id = @id`,
		s.args(pgx.NamedArgs{"id": id}))
	return err
}
