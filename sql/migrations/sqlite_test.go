package migrations_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/tune-dev/tune/sql/migrations"
)

// openSQLite opens a database/sql handle on a new SQLite file, as the
// embedded store configures its connections: waiting for locks rather than
// failing, foreign keys enforced.
func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSQLiteUpConcurrently migrates one new file from several handles at
// once, as processes sharing a data dir might: all succeed and every
// migration is recorded once.
func TestSQLiteUpConcurrently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tune.db")
	const procs = 4
	dbs := make([]*sql.DB, procs)
	for i := range dbs {
		dbs[i] = openSQLite(t, path)
	}
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = migrations.Up(ctx, db, migrations.SQLite) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("handle %d: %v", i, err)
		}
	}
	current, latest, err := migrations.Version(ctx, dbs[0], migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if current != latest || latest < 1 {
		t.Errorf("Version = %d, %d; want the latest (>= 1) twice", current, latest)
	}
	var applied int
	if err := dbs[0].QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != int(latest) {
		t.Errorf("%d migrations recorded, want %d (each once)", applied, latest)
	}
	for _, table := range []string{"studies", "trials", "change_seq"} {
		var n int
		if err := dbs[0].QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing after Up (%v)", table, err)
		}
	}
}

// TestSQLiteDownAndUp checks that every migration can be rolled back and
// applied again.
func TestSQLiteDownAndUp(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "tune.db"))
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, dialectFS(t, migrations.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM sqlite_schema
		WHERE type = 'table' AND name NOT IN ('goose_db_version', 'sqlite_sequence')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after rolling every migration back", tables)
	}
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
}

// TestSQLiteVersionOnEmptyDatabase: a file never migrated is at version 0.
func TestSQLiteVersionOnEmptyDatabase(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "tune.db"))
	current, latest, err := migrations.Version(context.Background(), db, migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if current != 0 || latest < 1 {
		t.Errorf("Version on an empty database = %d, %d; want 0 and the latest", current, latest)
	}
}

// TestSQLiteSchema checks the constraints and the change stamps the store
// relies on: every insert and update of a trial takes a new, higher
// sequence number from the counter; the checks refuse what the Postgres
// schema refuses; deleting a study deletes its trials.
func TestSQLiteSchema(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "tune.db"))
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
	if err := exec(`INSERT INTO studies (name, objective, search_space, sampler, pruner, created_at)
		VALUES ('s', '{}', '{}', '{}', '{}', 1)`); err != nil {
		t.Fatal(err)
	}
	seqOf := func(number int) (seq int64) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT seq FROM trials WHERE number = ?`, number).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	counter := func() (v int64) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT value FROM change_seq`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	start := counter()
	if start != 1 {
		t.Errorf("counter starts at %d, want 1", start)
	}
	insert := `INSERT INTO trials (study_id, number, state, created_at, updated_at) VALUES (1, ?, 'waiting', 1, 1)`
	if err := exec(insert, 0); err != nil {
		t.Fatal(err)
	}
	if err := exec(insert, 1); err != nil {
		t.Fatal(err)
	}
	a, b := seqOf(0), seqOf(1)
	if a <= start || b <= a || counter() != b {
		t.Errorf("inserts stamped %d and %d, counter %d; want increasing stamps above %d, the counter at the last", a, b, counter(), start)
	}
	if err := exec(`UPDATE trials SET attempt = 1 WHERE number = 0`); err != nil {
		t.Fatal(err)
	}
	if c := seqOf(0); c <= b || counter() != c {
		t.Errorf("update stamped %d, counter %d; want above %d and equal", c, counter(), b)
	}

	for _, bad := range []struct{ name, sql string }{
		{"duplicate number", `INSERT INTO trials (study_id, number, state, created_at, updated_at) VALUES (1, 0, 'waiting', 1, 1)`},
		{"unknown state", `UPDATE trials SET state = 'sleeping' WHERE number = 0`},
		{"running without lease", `UPDATE trials SET state = 'running' WHERE number = 0`},
		{"complete without value", `UPDATE trials SET state = 'complete', finished_at = 1 WHERE number = 0`},
		{"infinite value", `UPDATE trials SET value = 9e999 WHERE number = 0`},
		{"params not an object", `UPDATE trials SET params = '[]' WHERE number = 0`},
		{"unknown study", `INSERT INTO trials (study_id, number, state, created_at, updated_at) VALUES (99, 0, 'waiting', 1, 1)`},
		{"text in an integer column", `UPDATE trials SET attempt = 'x' WHERE number = 0`},
		{"next_number past max_trials", `UPDATE studies SET max_trials = 1, next_number = 2`},
		{"duplicate study name", `INSERT INTO studies (name, objective, search_space, sampler, pruner, created_at) VALUES ('s', '{}', '{}', '{}', '{}', 1)`},
	} {
		if err := exec(bad.sql); err == nil {
			t.Errorf("%s: accepted", bad.name)
		}
	}

	if err := exec(`DELETE FROM studies`); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM trials`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d trials left after their study was deleted (%v)", left, err)
	}
}
