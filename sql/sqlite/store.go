// Package sqlite implements trials.Store on an embedded SQLite database
// file through modernc.org/sqlite (pure Go, no cgo), for a machine with no
// database server. It keeps the semantics of sql/postgres exactly; the
// shared conformance suite (sql/storetest) holds both to them. What is not
// dialect lives once, for both: the rows and documents in sql/record, the
// refusals, lease, tell and reap rules in trials, the rerun loop in
// sql/retry. This package keeps its SQL and its locking.
//
// # How the store stays correct under concurrency
//
// SQLite admits one write transaction at a time per database file, across
// processes. The store builds on that instead of working around it:
//
//   - Every write is one transaction on a pool of exactly one connection,
//     begun with BEGIN IMMEDIATE (the DSN's _txlock), so it holds the
//     file's write lock from its first statement. Writers of one process
//     queue in Go for that connection (honouring their contexts), never
//     inside SQLite; writers of another process wait in SQLite's busy
//     handler (busy_timeout), and what still comes back as SQLITE_BUSY is
//     retried here. No caller sees "database is locked".
//   - Because a write transaction holds the lock from its start, what it
//     reads is the latest committed state and nobody changes it before the
//     commit: the checks (study state, max_trials, max_parallel, lease
//     tokens, "was this the last trial?") are plain reads followed by
//     writes, decided in Go, with no race between them. Trial numbers come
//     from the study's next_number counter in the same transaction:
//     gapless and unique.
//   - Reads run on a separate pool of read-only connections. The file is
//     in WAL mode, so readers never wait for the writer nor it for them;
//     reads that take several statements run in one read transaction and
//     so see one snapshot.
//   - Time comes from the process clock (UTC) plus the offset tests set
//     with SetClockOffset, taken once per write transaction after its lock
//     is held, so times follow commit order. Times are stored as
//     nanoseconds since the Unix epoch.
//   - TrialsChangedSince uses a change sequence (the change_seq table,
//     stamped on every trial write by triggers) instead of PostgreSQL's
//     transaction ids: see that method.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tune-dev/tune/sql/migrations"
	"github.com/tune-dev/tune/sql/retry"
	"github.com/tune-dev/tune/trials"
)

// Store is a trials.Store on one SQLite database file. It is safe for
// concurrent use, and several Stores (in one process or several) may open
// the same file, though one service per file is the intended use.
type Store struct {
	// w has a single connection, used for every write transaction.
	w *sql.DB
	// r is the pool of read-only connections.
	r *sql.DB
	// clockOffset (nanoseconds) is added to the process clock wherever the
	// store reads it. It is zero except in tests, which use it to let
	// leases expire without sleeping.
	clockOffset atomic.Int64
}

var _ trials.Store = (*Store)(nil)

// busyTimeout is how long SQLite itself waits for another process's write
// lock before a statement returns SQLITE_BUSY (which is then retried).
const busyTimeout = 10 * time.Second

// Open returns a Store on the database file at path, creating the file
// (and its directory, mode 0700) when missing, and switching it to WAL
// mode. It does not migrate: call Migrate to bring the schema up to date.
func Open(ctx context.Context, path string) (_ *Store, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("sqlite.Open(%q): %w", path, err)
		}
	}()
	if path == "" {
		return nil, errors.New("no database file given")
	}
	// The driver reads everything after the first '?' as its parameters.
	if strings.ContainsRune(path, '?') {
		return nil, errors.New("the path must not contain '?'")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")

	wq := url.Values{"_pragma": append([]string{"journal_mode(WAL)"}, common["_pragma"]...)}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, err
	}
	// One connection, kept for the store's life: the write lock is taken by
	// whoever holds it, so writers queue here, in Go.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect now, which creates the file and sets WAL mode (persistent,
	// so the readers opened after inherit it), and reports an unusable path
	// here rather than on the first request.
	// Two processes creating the file at once contend for the switch to
	// WAL, which needs the file to itself for a moment.
	if err := retryBusy(ctx, func() error { return w.PingContext(ctx) }); err != nil {
		w.Close()
		return nil, err
	}

	rq := url.Values{"_pragma": append([]string{"query_only(1)"}, common["_pragma"]...)}
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	return &Store{w: w, r: r}, nil
}

// Close closes every connection, waiting for those in use to be released.
// When it closes the file's last connection SQLite checkpoints the WAL into
// the database file; an error there loses nothing (the WAL is replayed at
// the next open), so it is not reported.
func (s *Store) Close() {
	s.r.Close()
	s.w.Close()
}

// Migrate applies the pending schema migrations. Several processes may
// call it at once on one file.
func (s *Store) Migrate(ctx context.Context) error {
	// goose takes a connection of its own for the whole run: the write
	// pool's only one, so nothing else may use it meanwhile, which is what
	// a migration wants anyway.
	if err := retryBusy(ctx, func() error { return migrations.Up(ctx, s.w, migrations.SQLite) }); err != nil {
		return fmt.Errorf("sqlite.Migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the database's schema version and the latest one
// this binary knows, so that a service can refuse to start on an outdated
// schema.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	err = retryBusy(ctx, func() error {
		current, latest, err = migrations.Version(ctx, s.w, migrations.SQLite)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite.SchemaVersion: %w", err)
	}
	return current, latest, nil
}

// SetClockOffset moves the store's clock by d. It exists for tests, which
// expire leases by moving time forward instead of sleeping.
func (s *Store) SetClockOffset(d time.Duration) { s.clockOffset.Store(int64(d)) }

// now is the store's clock: the process clock in UTC, plus the offset.
func (s *Store) now() time.Time {
	return time.Now().UTC().Add(time.Duration(s.clockOffset.Load())).Round(0)
}

// Ping reports whether the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	err := retryBusy(ctx, func() error {
		var n int
		return s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n)
	})
	if err != nil {
		return fmt.Errorf("sqlite.Ping: %w", err)
	}
	return nil
}

// isBusy reports whether err is SQLite saying that another connection
// holds a lock it needs (SQLITE_BUSY or SQLITE_LOCKED, any extended code).
// The statement, or the transaction it was in, did nothing and can be
// rerun as is.
func isBusy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// retryBusy runs fn, running it again after short random pauses while it
// fails because the file is locked, up to 6 runs; each has already waited
// up to busyTimeout inside SQLite, so giving up takes a minute of another
// process holding the lock. fn must be a whole transaction.
func retryBusy(ctx context.Context, fn func() error) error {
	return retry.Policy{Tries: 6, Pause: 10 * time.Millisecond, Transient: isBusy}.Do(ctx, fn)
}

// write runs fn in a write transaction (BEGIN IMMEDIATE: the file's write
// lock is held from the start) and commits it when fn returns nil. now is
// the store's clock, read once the lock is held. The whole transaction is
// rerun if the file was locked by another process for longer than the busy
// timeout.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) error {
	return retryBusy(ctx, func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx, s.now()); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// read runs fn in a read transaction on the read pool: every statement in
// it sees the same snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return retryBusy(ctx, func() error {
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// wrap prefixes an internal error with the operation it came from. Domain
// errors pass through untouched: their text is meant for the client.
func wrap(errp *error, format string, args ...any) {
	if *errp == nil || trials.KindOf(*errp) != trials.KindInternal {
		return
	}
	*errp = fmt.Errorf("sqlite.%s: %w", fmt.Sprintf(format, args...), *errp)
}
