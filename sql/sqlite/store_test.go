package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/trials"
)

// openAt opens and migrates a store on the file at path, closed when the
// test ends.
func openAt(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newStore returns a migrated store on a new file.
func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "tune.db"))
}

// TestConformance runs the Store conformance suite, which every store
// passes alike, on fresh SQLite files; the pairs are two Stores on one
// file, as two processes sharing a data dir would have.
func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) storetest.Store { return newStore(t) },
		func(t *testing.T) (storetest.Store, storetest.Store) {
			path := filepath.Join(t.TempDir(), "tune.db")
			return openAt(t, path), openAt(t, path)
		})
}

// TestOpenCreatesTheFileAndKeepsData: Open creates the data directory
// (0700) and the file; what is written survives closing and reopening.
func TestOpenCreatesTheFileAndKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data", "dir")
	path := filepath.Join(dir, "tune.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %v, want 0700", perm)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
	st := storetest.CreateStudy(t, s, "kept", nil)
	tr := storetest.CreateRunning(t, s, st.ID, 16, "r")
	s.Close()

	again := openAt(t, path)
	got, err := again.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StudyID != st.ID || got.State != trials.TrialRunning || got.Lease != tr.Lease {
		t.Errorf("after reopening: %+v, want the trial written before", got)
	}
	if s2, err := again.GetStudyByName(ctx, "kept"); err != nil || s2.ID != st.ID {
		t.Errorf("after reopening: study %+v, %v", s2, err)
	}
}

// TestSchemaVersion: a new file is at version 0 until migrated; Migrate
// brings it to the latest and is a no-op after.
func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tune.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if current != 0 || latest < 1 {
		t.Errorf("SchemaVersion before Migrate = %d, %d; want 0 and the latest", current, latest)
	}
	for range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		current, latest2, err := s.SchemaVersion(ctx)
		if err != nil || current != latest || latest2 != latest {
			t.Errorf("SchemaVersion after Migrate = %d, %d, %v; want %d twice", current, latest2, err, latest)
		}
	}
}

// TestOpenRejectsBadPaths: a path the driver would misread, or one that
// cannot be created, fails at Open rather than on the first request.
func TestOpenRejectsBadPaths(t *testing.T) {
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a?b.db")); err == nil {
		t.Error("Open of a path with '?' succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, filepath.Join(file, "tune.db")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

// TestManyStoresOnOneFile hammers one file with writes from four Stores
// (separate connection pools, as separate processes would have) at once,
// from their first open of the new file on,
// mixing every kind of write with reads: none fails, in particular not
// with "database is locked", and every write is there after.
func TestManyStoresOnOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tune.db")
	// They open and migrate the new file at once, too.
	stores := make([]*sqlite.Store, 4)
	var opening sync.WaitGroup
	openErrs := make([]error, len(stores))
	for i := range stores {
		opening.Go(func() {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				openErrs[i] = err
				return
			}
			stores[i] = s
			openErrs[i] = s.Migrate(ctx)
		})
	}
	opening.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(s.Close)
		}
		if openErrs[i] != nil {
			t.Fatalf("store %d: %v", i, openErrs[i])
		}
	}
	st := storetest.CreateStudy(t, stores[0], "shared", nil)
	const workers, perWorker = 16, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			for j := range perWorker {
				tr, err := s.CreateRunning(ctx, st.ID, storetest.Params(16), nil, trials.OriginRandom, "r", false)
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: j, Value: 1}); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.Heartbeat(ctx, tr.ID, &tr.Lease); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.TrialsChangedSince(ctx, st.ID, 0); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.ReapExpired(ctx); err != nil {
					errs <- err
					return
				}
				v := float64(j)
				if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "SQLITE_BUSY") {
			t.Errorf("a caller saw the lock: %v", err)
		} else {
			t.Error(err)
		}
	}
	sum, err := stores[3].SummarizeStudy(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Counts[trials.TrialComplete]; n != workers*perWorker {
		t.Errorf("%d trials complete, want %d", n, workers*perWorker)
	}
}

// TestCanceledWriteWaitsNoLonger: a write whose context ends while it
// queues for the write connection gives up with the context's error and
// leaves nothing behind.
func TestCanceledWriteWaitsNoLonger(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.CreateStudy(ctx, storetest.Study("never"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateStudy with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.GetStudyByName(context.Background(), "never"); !errors.Is(err, trials.ErrNotFound) {
		t.Errorf("GetStudyByName after the canceled write = %v, want not found", err)
	}
}
