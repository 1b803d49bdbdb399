// Package postgres implements trials.Store on PostgreSQL through pgx.
//
// # How the store stays correct under concurrency
//
// Several service replicas share one database, and each serves many runners
// at once, so every rule the trials package states is enforced by the
// database rather than by Go code:
//
//   - Time comes from the database clock (now(), clock_timestamp()), never
//     from Go's, so replicas with skewed clocks agree on when a lease
//     expires. Tests move that clock with SetClockOffset.
//   - Every write a runner makes is a conditional UPDATE on the trial's id,
//     state and lease token. When it matches nothing the store reads the row
//     to explain why (not found, finished, lease taken over).
//   - Trial numbers come from the study row's next_number counter, bumped in
//     the transaction that inserts the trial: gapless and unique however many
//     callers race, and the counter is what max_trials is checked against.
//   - Checks that depend on other trials (max_parallel, "was this the last
//     trial?") run after locking the study row, in a later statement than the
//     lock, so that under READ COMMITTED they see everything committed by
//     the lock's previous holders.
//   - Waiting trials are claimed with FOR UPDATE SKIP LOCKED, so concurrent
//     claimers never wait on, or take, the same trial.
//   - Readers of a study's history fetch only what changed by transaction
//     id, not by time: each trial carries the id of the transaction that
//     last wrote it, and the cursor is the xmin of the reading snapshot,
//     which no change can slip under however late it commits (see
//     TrialsChangedSince).
//
// Locks are always taken study row first, then trial rows, which keeps the
// store free of deadlocks among its own methods; serialization failures and
// deadlocks that do happen are retried.
//
// Hot paths (ask, claim, tell, report, heartbeat) cost one round trip: their
// statements are sent as one pgx batch, which PostgreSQL runs as a single
// implicit transaction.
//
// What is not dialect is shared with sql/sqlite: the rows and documents in
// sql/record, the refusals, lease, tell and reap rules in trials, the rerun
// loop in sql/retry. This package keeps its SQL and its locking.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tune-dev/tune/sql/migrations"
	"github.com/tune-dev/tune/sql/retry"
	"github.com/tune-dev/tune/trials"
)

// Store is a trials.Store backed by a PostgreSQL connection pool. It is safe
// for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// clockOffset (nanoseconds) is added to the database clock in every
	// query that reads it. It is zero except in tests, which use it to let
	// leases expire without sleeping.
	clockOffset atomic.Int64
}

var _ trials.Store = (*Store)(nil)

// Open returns a Store on the database at databaseURL (a postgres:// URL or
// a key=value DSN; pool settings such as pool_max_conns are honoured). It
// neither connects nor migrates: call Ping to check the database is
// reachable and Migrate to bring the schema up to date.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, fmt.Errorf("postgres.Open: %w", err)
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		// Return timestamps in UTC rather than the process's local zone, so
		// that what the API shows does not depend on where it runs.
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres.Open: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes every connection, waiting for those in use to be released.
func (s *Store) Close() { s.pool.Close() }

// Migrate applies the pending schema migrations. It is safe to run from
// several processes at once: they take turns on an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.sqlDB()
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		return fmt.Errorf("postgres.Migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the database's schema version and the latest one
// this binary knows, so that a service can refuse to start on an outdated
// schema.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	db := s.sqlDB()
	defer db.Close()
	current, latest, err = migrations.Version(ctx, db, migrations.Postgres)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres.SchemaVersion: %w", err)
	}
	return current, latest, nil
}

// SetClockOffset moves the store's view of the database clock by d: every
// query that reads the clock uses now() + d. It exists for tests, which
// expire leases by moving time forward instead of sleeping.
func (s *Store) SetClockOffset(d time.Duration) { s.clockOffset.Store(int64(d)) }

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres.Ping: %w", err)
	}
	return nil
}

// args returns the named arguments of a query with the clock offset added;
// queries refer to the database clock as now() + @clock_offset::interval.
func (s *Store) args(a pgx.NamedArgs) pgx.NamedArgs {
	if a == nil {
		a = pgx.NamedArgs{}
	}
	a["clock_offset"] = time.Duration(s.clockOffset.Load())
	return a
}

// rerun reruns a whole transaction that failed with a retryable error,
// up to 5 runs.
var rerun = retry.Policy{Tries: 5, Pause: 5 * time.Millisecond, Transient: retryable}

// retryable reports whether err is one that PostgreSQL asks the client to
// retry: the transaction was rolled back as a whole and can be rerun as is.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || // serialization_failure
		pgErr.Code == "40P01" // deadlock_detected
}

// transact runs fn in a transaction, retrying the whole transaction on a
// serialization failure or deadlock. It is for multi-statement work whose
// later statements depend on what earlier ones returned.
func (s *Store) transact(ctx context.Context, fn func(pgx.Tx) error) error {
	return rerun.Do(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, fn)
	})
}

// batch sends the statements queued by build in one round trip and hands
// their results to read, in order. PostgreSQL runs a batch as one implicit
// transaction: either every statement takes effect or none does, and a lock
// taken by one statement is held until the last has run. Each statement
// still gets its own snapshot (READ COMMITTED), so one that follows a lock
// sees everything committed by the lock's previous holders. Like transact,
// it retries on a serialization failure or deadlock.
func (s *Store) batch(ctx context.Context, build func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	return rerun.Do(ctx, func() error {
		b := &pgx.Batch{}
		build(b)
		br := s.pool.SendBatch(ctx, b)
		err := read(br)
		// Close reads up to the end of the implicit transaction; an error
		// there means it did not commit, whatever read saw.
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// wrap prefixes an internal error with the operation it came from. Domain
// errors pass through untouched: their text is meant for the client.
func wrap(errp *error, format string, args ...any) {
	if *errp == nil || trials.KindOf(*errp) != trials.KindInternal {
		return
	}
	*errp = fmt.Errorf("postgres.%s: %w", fmt.Sprintf(format, args...), *errp)
}

// isUniqueViolation reports whether err violates the named unique constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// sqlDB returns a database/sql handle on the store's database, for goose,
// which speaks database/sql. It opens its own connections, from the same
// settings as the pool; callers must close it.
func (s *Store) sqlDB() *sql.DB { return stdlib.OpenDB(*s.pool.Config().ConnConfig) }
