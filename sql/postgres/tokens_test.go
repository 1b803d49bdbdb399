package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read rows as stored

	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/storetest"
)

func TestTokens(t *testing.T) {
	storetest.RunTokens(t, func(t *testing.T) (storetest.TokenStore, *sql.DB) {
		url := pgtest.URL(t)
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return s, db
	})
}
