package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/tune-dev/tune/sql/storetest"
)

func TestTokens(t *testing.T) {
	storetest.RunTokens(t, func(t *testing.T) (storetest.TokenStore, *sql.DB) {
		path := filepath.Join(t.TempDir(), "tune.db")
		s := openAt(t, path)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return s, db
	})
}
