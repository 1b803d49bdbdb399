package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/trials"
)

// openedStore is a store the command owns and must close.
type openedStore interface {
	trials.Store
	Close()
}

// dbFileName is the embedded database's file in the data dir.
const dbFileName = "tune.db"

// versioned is what openStore needs of a store to keep its schema current.
type versioned interface {
	Migrate(ctx context.Context) error
	SchemaVersion(ctx context.Context) (current, latest int64, err error)
}

// openStore opens the Postgres store at databaseURL or, when it is empty,
// the embedded store in dataDir (created, 0700, when missing; file
// dataDir/tune.db), applying pending migrations when migrate is set, and
// refusing to run on an outdated schema otherwise. where says what was
// opened, for logs and messages: the URL without its password, or the
// file's path.
func openStore(ctx context.Context, databaseURL, dataDir string, migrate bool) (st openedStore, where string, err error) {
	var v versioned
	if databaseURL != "" {
		where = redactURL(databaseURL)
		pg, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			// pgx may quote the connection string it failed on.
			return nil, where, fmt.Errorf("opening the database at %s: %w", where, scrubPassword(err, databaseURL))
		}
		st, v = pg, pg
	} else {
		if dataDir == "" {
			dataDir = defaultDataDir()
		}
		where = filepath.Join(dataDir, dbFileName)
		// MkdirAll leaves an existing directory's mode alone: the mode is
		// for a data dir tune creates, which holds every study's results.
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, where, fmt.Errorf("creating the data directory: %w", err)
		}
		lite, err := sqlite.Open(ctx, where)
		if err != nil {
			return nil, where, fmt.Errorf("opening the database file %s: %w", where, err)
		}
		st, v = lite, lite
	}
	if err := checkSchema(ctx, v, migrate); err != nil {
		st.Close()
		return nil, where, fmt.Errorf("%s: %w", where, scrubPassword(err, databaseURL))
	}
	return st, where, nil
}

// checkSchema migrates the store when migrate is set, and refuses a schema
// older than this binary's either way: a service on an outdated schema
// would fail on its first query that needs a newer column.
func checkSchema(ctx context.Context, v versioned, migrate bool) error {
	if migrate {
		// Under the migration lock, so that replicas starting at once take
		// turns; a no-op on a schema that is current or newer.
		if err := v.Migrate(ctx); err != nil {
			return fmt.Errorf("migrating the database: %w", err)
		}
	}
	current, latest, err := v.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	switch {
	case current < latest:
		return fmt.Errorf("the database schema is at version %d but this tune needs version %d: run `tune migrate` first, or start with --migrate", current, latest)
	case current > latest:
		// A newer tune migrated it: its columns and rules are unknown here.
		return fmt.Errorf("the database schema is at version %d, newer than this tune knows (%d): upgrade tune", current, latest)
	}
	return nil
}
