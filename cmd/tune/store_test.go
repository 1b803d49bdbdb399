package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	// The database/sql driver the embedded store uses, to write what a
	// newer tune would.
	_ "modernc.org/sqlite"
)

func TestRedactDatabaseURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://tune:s3cret@db:5432/tune?sslmode=disable", "postgres://tune@db:5432/tune?sslmode=disable"},
		{"postgres://tune@db/tune", "postgres://tune@db/tune"},
		{"postgresql://db/tune?user=tune&password=s3cret", "postgresql://db/tune?user=tune"},
		{"host=db user=tune password=s3cret dbname=tune", "host=db user=tune password=xxxxx dbname=tune"},
		{"host=db password='s3 cret' dbname=tune", "host=db password=xxxxx dbname=tune"},
	} {
		got := redactURL(tc.in)
		if got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("redactURL(%q) = %q keeps the password", tc.in, got)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("TUNE_DATA_DIR", "/srv/tune")
	if got := defaultDataDir(); got != "/srv/tune" {
		t.Errorf("with TUNE_DATA_DIR: %q", got)
	}
	t.Setenv("TUNE_DATA_DIR", "")
	home := t.TempDir()
	t.Setenv("HOME", home)
	if got, want := defaultDataDir(), filepath.Join(home, ".tune"); got != want {
		t.Errorf("without TUNE_DATA_DIR: %q, want %q", got, want)
	}
	t.Setenv("HOME", "")
	if got := defaultDataDir(); got != ".tune" {
		t.Errorf("without a home: %q, want .tune", got)
	}
}

// TestOpenStoreEmbedded: openStore creates the data dir and file, says
// where they are, and the store it returns works and is closed by the
// caller.
func TestOpenStoreEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	st, where, err := openStore(t.Context(), "", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if want := filepath.Join(dir, "tune.db"); where != want {
		t.Errorf("where = %q, want %q", where, want)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestOpenStoreRefusesNewerSchema: a database that a newer tune migrated
// is refused by an older one, which does not know its columns and rules.
func TestOpenStoreRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	st, _, err := openStore(t.Context(), "", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "tune.db"))
	if err != nil {
		t.Fatal(err)
	}
	// What goose records when a later release adds migration 99.
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, migrate := range []bool{true, false} {
		_, _, err := openStore(t.Context(), "", dir, migrate)
		if err == nil || !strings.Contains(err.Error(), "schema is at version 99, newer than this tune knows") ||
			!strings.Contains(err.Error(), "upgrade tune") {
			t.Errorf("openStore(migrate=%v) on a newer schema: %v", migrate, err)
		}
	}
}

func TestRedactBrokenURL(t *testing.T) {
	if got := redactURL("postgres://tune:s3cret@db:notaport/tune"); got != "postgres://tune@db:notaport/tune" {
		t.Errorf("redactURL = %q", got)
	}
}
