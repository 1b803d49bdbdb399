// Package migrations holds tune's PostgreSQL schema as goose migrations
// embedded in the binary, and applies them.
//
// Migrations are plain SQL files named NNNNN_description.sql with goose's
// "-- +goose Up" and "-- +goose Down" sections. They are append-only: once a
// file has been released, change the schema with a new file.
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

//go:embed *.sql
var files embed.FS

// FS returns the migration files, for tools that need to inspect them (test
// helpers hash them to recognize an already migrated template database).
func FS() fs.FS { return files }

// newProvider returns a goose provider over db that serializes concurrent
// runs with a session-level advisory lock. Several replicas of the service
// may start at the same moment and all call Up: the first takes the lock and
// migrates, the others wait for it and then find nothing left to do.
func newProvider(db *sql.DB) (*goose.Provider, error) {
	// goose polls pg_try_advisory_lock; poll every second (the default is
	// five) for up to five minutes, long enough for any migration we ship.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		// Migrations are registered here explicitly; ignore goose's global
		// registry so that another package's Go migrations cannot leak in.
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration. It is safe to call from several
// processes at once against the same database, and cheap when the schema is
// current. db must use a PostgreSQL driver, e.g. pgx's stdlib ("pgx").
func Up(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return fmt.Errorf("migrations.Up: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations.Up: %w", err)
	}
	return nil
}

// Version reports the schema version the database is at and the latest
// version this binary knows. A service can refuse to start while
// current < latest instead of failing on its first query. Like every goose
// call it creates goose's version table (goose_db_version) if it is missing;
// it does not take the migration lock.
func Version(ctx context.Context, db *sql.DB) (current, latest int64, err error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations.Version: %w", err)
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations.Version: %w", err)
	}
	return current, latest, nil
}
