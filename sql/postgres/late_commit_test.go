package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/storetest"
)

// TestTrialsChangedSinceLateCommit has transactions that write trials while
// a reader takes its cursor and commit after it, the case a time cursor can
// only cover with a margin: the next read from that cursor returns their
// writes.
func TestTrialsChangedSinceLateCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	raw, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)

	st := storetest.CreateStudy(t, s, "late", nil)
	early := storetest.CreateRunning(t, s, st.ID, 16, "r")
	late := storetest.CreateRunning(t, s, st.ID, 32, "r")
	_, cursor, err := s.TrialsChangedSince(ctx, st.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	cursor = storetest.QuietCursor(t, s, st.ID, cursor)

	// One transaction has written a trial, another has begun but writes
	// only after the read; neither has committed when the reader reads.
	wrote, err := raw.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer wrote.Rollback(ctx)
	var xid int64
	if err := wrote.QueryRow(ctx, `
		UPDATE trials SET system_attrs = '{"wrote": "before the read"}' WHERE id = $1
		RETURNING pg_current_xact_id()::text::bigint`, early.ID).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	begun, err := raw.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer begun.Rollback(ctx)
	if _, err := begun.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatal(err)
	}

	during, next, err := s.TrialsChangedSince(ctx, st.ID, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 0 {
		t.Errorf("uncommitted writes read: %+v", during)
	}
	if next > xid {
		t.Fatalf("cursor %d is past the open transaction %d: its write would be missed", next, xid)
	}

	if _, err := begun.Exec(ctx, `UPDATE trials SET system_attrs = '{"wrote": "after the read"}' WHERE id = $1`, late.ID); err != nil {
		t.Fatal(err)
	}
	if err := begun.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The reader moves on while the first writer is still open.
	mid, next2, err := s.TrialsChangedSince(ctx, st.ID, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(mid) != 1 || mid[0].ID != late.ID || mid[0].SystemAttrs["wrote"] != "after the read" {
		t.Errorf("after the second writer committed: %+v; want trial %d with its write", mid, late.ID)
	}
	if next2 > xid {
		t.Fatalf("cursor %d is past the open transaction %d", next2, xid)
	}
	if err := wrote.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	after, _, err := s.TrialsChangedSince(ctx, st.ID, next2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, tr := range after {
		got[tr.ID] = tr.SystemAttrs["wrote"]
	}
	if got[early.ID] != "before the read" {
		t.Errorf("after the late commit: %v; want trial %d with its write", got, early.ID)
	}
}
