// Package migrations holds tune's schema, one set of goose migrations per
// SQL dialect (PostgreSQL for production, SQLite for the embedded store),
// embedded in the binary, and applies them.
//
// Migrations are plain SQL files named NNNNN_description.sql with goose's
// "-- +goose Up" and "-- +goose Down" sections, under a directory named
// for their dialect. They are append-only: once a file has been released,
// change the schema with a new file. The two sets describe the same schema
// but are numbered independently: goose keys a database's state on version
// numbers alone, and each database only ever sees its own dialect's files.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names a set of migrations.
type Dialect string

const (
	// Postgres is the production schema; apply it through a PostgreSQL
	// driver, e.g. pgx's stdlib ("pgx").
	Postgres Dialect = "postgres"
	// SQLite is the embedded store's schema; apply it through
	// modernc.org/sqlite ("sqlite").
	SQLite Dialect = "sqlite"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the dialect's migration files at the root of the file system,
// for tools that need to inspect them (test helpers hash them to recognize
// an already migrated template database).
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(files, string(d))
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", d)
}

// newProvider returns a goose provider of the dialect's migrations over db.
//
// For PostgreSQL it serializes concurrent runs with a session-level
// advisory lock: several replicas of the service may start at the same
// moment and all call Up; the first takes the lock and migrates, the others
// wait for it and then find nothing left to do.
//
// SQLite has no such lock, and needs none from goose: every migration runs
// in a transaction, DDL included, and SQLite admits one writer at a time,
// so a second process that raced to apply the same migration fails it as a
// whole and changes nothing (see Up).
func newProvider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	migrationFS, err := FS(d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		// Migrations are registered here explicitly; ignore goose's global
		// registry so that another package's Go migrations cannot leak in.
		goose.WithDisableGlobalRegistry(true),
	}
	gooseDialect := goose.DialectSQLite3
	if d == Postgres {
		gooseDialect = goose.DialectPostgres
		// goose polls pg_try_advisory_lock; poll every second (the default
		// is five) for up to five minutes, long enough for any migration
		// we ship.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("create migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gooseDialect, db, migrationFS, opts...)
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration of the dialect. It is cheap when the
// schema is current, and safe to call from several processes at once
// against the same database.
func Up(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := newProvider(db, d)
	if err != nil {
		return fmt.Errorf("migrations.Up(%s): %w", d, err)
	}
	_, err = p.Up(ctx)
	// Another process may have applied a migration this one tried: its
	// transaction then failed and was rolled back whole. Read the versions
	// again and carry on from where the other left off.
	for try := 0; err != nil && d == SQLite && try < 3; try++ {
		current, latest, verr := p.GetVersions(ctx)
		if verr != nil {
			break
		}
		if current == latest {
			err = nil
			break
		}
		_, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrations.Up(%s): %w", d, err)
	}
	return nil
}

// Version reports the schema version the database is at and the latest
// version of the dialect this binary knows. A service can refuse to start
// while current < latest instead of failing on its first query. Like every
// goose call it creates goose's version table (goose_db_version) if it is
// missing; it does not take the migration lock.
func Version(ctx context.Context, db *sql.DB, d Dialect) (current, latest int64, err error) {
	p, err := newProvider(db, d)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations.Version(%s): %w", d, err)
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations.Version(%s): %w", d, err)
	}
	return current, latest, nil
}
