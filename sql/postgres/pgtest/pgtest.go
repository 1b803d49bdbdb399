// Package pgtest gives tests a fresh, migrated PostgreSQL database of their
// own, through pgtestdb: the migrations run once into a template database,
// and each test gets a quick copy of it, dropped when the test passes (kept
// for inspection when it fails; the test log names it).
//
// The server is TUNE_TEST_DATABASE_URL, by default the local one with trust
// authentication (DefaultURL). It must be reachable: a test that cannot
// reach it fails rather than skips, so that CI cannot pass by testing
// nothing.
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"

	// The "pgx" database/sql driver that pgtestdb connects with.
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/peterldowns/pgtestdb"

	"github.com/tune-dev/tune/sql/migrations"
	"github.com/tune-dev/tune/sql/postgres"
)

// EnvURL names the environment variable that points tests at a server.
const EnvURL = "TUNE_TEST_DATABASE_URL"

// DefaultURL is the server tests use when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// New returns a Store on a fresh migrated database, closed when the test
// ends.
func New(t testing.TB) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: open store: %v", err)
	}
	// Cleanups run last-registered first, so the store closes its
	// connections before pgtestdb drops the database.
	t.Cleanup(st.Close)
	return st
}

// URL returns the URL of a fresh migrated database, for tests that open it
// more than once (two servers on one database). Close everything opened on
// it before the test ends, e.g. in a t.Cleanup registered after calling URL:
// the database cannot be dropped while connections remain.
func URL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), migrator{}).URL()
}

// EmptyURL returns the URL of a fresh database with no schema at all, for
// tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), emptyMigrator{}).URL()
}

// config reads the server to use from EnvURL.
func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvURL)
	}
	password, _ := u.User.Password()
	conf := pgtestdb.Config{
		DriverName: "pgx",
		Host:       u.Hostname(),
		Port:       u.Port(),
		User:       u.User.Username(),
		Password:   password,
		Database:   strings.TrimPrefix(u.Path, "/"),
		Options:    u.RawQuery,
	}
	if conf.Host == "" {
		conf.Host = "127.0.0.1"
	}
	if conf.Port == "" {
		conf.Port = "5432"
	}
	if conf.User == "" {
		conf.User = "postgres"
	}
	if conf.Database == "" {
		conf.Database = "postgres"
	}
	return conf
}

// migrator runs tune's migrations into pgtestdb's template database.
type migrator struct{}

// Hash identifies the schema by the migration files' names and contents, so
// that changing a migration makes pgtestdb build a new template.
func (migrator) Hash() (string, error) {
	files, err := migrations.FS(migrations.Postgres)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	return migrations.Up(ctx, db, migrations.Postgres)
}

// emptyMigrator leaves the template empty.
type emptyMigrator struct{}

func (emptyMigrator) Hash() (string, error) { return "tune-empty", nil }

func (emptyMigrator) Migrate(context.Context, *sql.DB, pgtestdb.Config) error { return nil }
