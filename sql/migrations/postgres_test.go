package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/tune-dev/tune/sql/migrations"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
)

// dialectFS returns the dialect's migration files.
func dialectFS(t *testing.T, d migrations.Dialect) fs.FS {
	t.Helper()
	files, err := migrations.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestPostgresUpConcurrently starts migrations from several pools at once on an
// empty database, as replicas starting together would: all succeed, and
// the schema is applied once.
func TestPostgresUpConcurrently(t *testing.T) {
	ctx := context.Background()
	url := pgtest.EmptyURL(t)
	const replicas = 4
	dbs := make([]*sql.DB, replicas)
	for i := range dbs {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}

	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i, db := range dbs {
		wg.Go(func() { errs[i] = migrations.Up(ctx, db, migrations.Postgres) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}

	current, latest, err := migrations.Version(ctx, dbs[0], migrations.Postgres)
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
	for _, table := range []string{"studies", "trials"} {
		var ok bool
		if err := dbs[0].QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing after Up (%v)", table, err)
		}
	}
}

// TestPostgresDownAndUp checks that every migration can be rolled back and applied
// again, so that the Down sections stay in step with the Up ones.
func TestPostgresDownAndUp(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, dialectFS(t, migrations.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after rolling every migration back", tables)
	}
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatalf("Up after Down: %v", err)
	}
}

// TestPostgresVersionOnEmptyDatabase: a database never migrated is at version 0.
func TestPostgresVersionOnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	current, latest, err := migrations.Version(ctx, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if current != 0 || latest < 1 {
		t.Errorf("Version on an empty database = %d, %d; want 0 and the latest", current, latest)
	}
}

// TestChangeCursorMigration applies the change cursor (00002) over a
// database holding trials: they keep xid 0, which any reader starting from
// cursor 0 reads, and from then on every insert and every update stamps
// the writing transaction's id.
func TestChangeCursorMigration(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, dialectFS(t, migrations.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var old int64
	if err := db.QueryRowContext(ctx, `
		WITH s AS (
			INSERT INTO studies (name, objective, search_space, sampler, pruner)
			VALUES ('s', '{}', '{}', '{}', '{}') RETURNING id
		)
		INSERT INTO trials (study_id, number, state) SELECT id, 0, 'waiting' FROM s RETURNING id`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatal(err)
	}

	xidOf := func(id int64) int64 {
		t.Helper()
		var xid int64
		if err := db.QueryRowContext(ctx, `SELECT xid FROM trials WHERE id = $1`, id).Scan(&xid); err != nil {
			t.Fatal(err)
		}
		return xid
	}
	if x := xidOf(old); x != 0 {
		t.Errorf("trial written before the migration has xid %d, want 0", x)
	}

	// An insert and an update in one transaction both get its id.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var xid, added int64
	if err := tx.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO trials (study_id, number, state) SELECT study_id, 1, 'waiting' FROM trials WHERE id = $1
		RETURNING id`, old).Scan(&added); err != nil {
		t.Fatal(err)
	}
	// Even an update that sets xid itself cannot forget the stamp.
	if _, err := tx.ExecContext(ctx, `UPDATE trials SET attempt = 1, xid = 0 WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if x, y := xidOf(old), xidOf(added); x != xid || y != xid || xid <= 0 {
		t.Errorf("updated trial xid %d, inserted trial xid %d; want both %d", x, y, xid)
	}
}
