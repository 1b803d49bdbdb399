package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tune-dev/tune/broker"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// stores opens a fresh, migrated store of each kind the service runs on.
var stores = []struct {
	name string
	open func(t *testing.T) storetest.Store
}{
	{"postgres", func(t *testing.T) storetest.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}},
	{"sqlite", func(t *testing.T) storetest.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tune.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// onEveryStore runs fn with a broker over each kind of store. The reaper
// is off (tests call Reap) and the poll is long, so that only a wake-up can
// end a lease's wait early.
func onEveryStore(t *testing.T, fn func(t *testing.T, store storetest.Store, b *broker.Broker)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store := s.open(t)
			b, err := broker.New(broker.Config{
				Store:        store,
				Tuner:        tuner.New(store),
				Logger:       slog.New(slog.DiscardHandler),
				ReapInterval: -1,
				LeasePoll:    time.Hour,
				MaxLeaseWait: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			fn(t, store, b)
		})
	}
}

func wantKind(t *testing.T, err error, want *trials.Error, fragment string) {
	t.Helper()
	if !errors.Is(err, want) || !strings.Contains(fmt.Sprint(err), fragment) {
		t.Errorf("error = %v, want kind %v containing %q", err, want.Kind, fragment)
	}
}

// TestAskStoresSamplerAttrsWithTheTrial: CMA-ES's bookkeeping is on the
// trial from its first read, not written after it.
func TestAskStoresSamplerAttrsWithTheTrial(t *testing.T) {
	onEveryStore(t, func(t *testing.T, store storetest.Store, b *broker.Broker) {
		ctx := context.Background()
		st := storetest.CreateStudy(t, store, "cma", func(s *trials.Study) {
			s.Sampler.Type = trials.SamplerCMAES
		})
		for range 3 {
			tr, err := b.Ask(ctx, st, "")
			if err != nil {
				t.Fatal(err)
			}
			if tr.SystemAttrs["goptuna:cmaes:generationId"] == "" {
				t.Errorf("asked trial %d has no CMA-ES generation: %v", tr.Number, tr.SystemAttrs)
			}
			got, err := store.GetTrial(ctx, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tr.SystemAttrs, got.SystemAttrs); diff != "" {
				t.Errorf("stored attrs differ from the asked trial's (-ask +store):\n%s", diff)
			}
		}
	})
}

// TestLeaseWaitsForWork: a waiting lease is woken by a resumed study and by
// a tell that frees a parallel slot (the poll is an hour, the wait a
// minute: only the wake-up hands these trials out).
func TestLeaseWaitsForWork(t *testing.T) {
	onEveryStore(t, func(t *testing.T, store storetest.Store, b *broker.Broker) {
		ctx := context.Background()
		st := storetest.CreateStudy(t, store, "wait", func(s *trials.Study) { s.MaxParallel = 1 })
		if _, err := store.SetStudyState(ctx, st.ID, trials.StudyPaused); err != nil {
			t.Fatal(err)
		}
		r := trials.Runner{ID: "r1", Workloads: []string{st.Workload.Type}}
		lease := func() <-chan *broker.Grant {
			out := make(chan *broker.Grant, 1)
			go func() {
				g, err := b.Lease(ctx, r, time.Minute, nil)
				if err != nil {
					t.Error(err)
				}
				out <- g
			}()
			return out
		}

		first := lease()
		if err := b.SetStudyState(ctx, st, trials.StudyRunning); err != nil {
			t.Fatal(err)
		}
		g := <-first
		if g == nil || g.Trial.StudyID != st.ID || g.Trial.State != trials.TrialRunning || g.Study.Name != "wait" {
			t.Fatalf("lease after resume = %+v, want a running trial of the study", g)
		}

		second := lease()
		v := 0.5
		if _, err := b.Tell(ctx, g.Trial.ID, &g.Trial.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
			t.Fatal(err)
		}
		if g2 := <-second; g2 == nil || g2.Trial.ID == g.Trial.ID {
			t.Fatalf("lease after the tell = %+v, want a new trial", g2)
		}

		_, err := b.Lease(ctx, trials.Runner{ID: "r2"}, 0, nil)
		wantKind(t, err, trials.ErrInvalid, "runner.workloads is empty")
	})
}

// TestObjectiveMetricAsValue: a complete tell or record without a value
// takes the objective metric's, as one rule.
func TestObjectiveMetricAsValue(t *testing.T) {
	onEveryStore(t, func(t *testing.T, store storetest.Store, b *broker.Broker) {
		ctx := context.Background()
		st := storetest.CreateStudy(t, store, "objective", nil)
		tr, err := b.Ask(ctx, st, "")
		if err != nil {
			t.Fatal(err)
		}
		told, err := b.Tell(ctx, tr.ID, nil, trials.Outcome{State: trials.TrialComplete, Metrics: map[string]float64{"val_loss": 0.25}})
		if err != nil {
			t.Fatal(err)
		}
		if told.Value == nil || *told.Value != 0.25 {
			t.Errorf("told value = %v, want the objective metric 0.25", told.Value)
		}

		rec, err := b.Record(ctx, st, trials.Trial{State: trials.TrialComplete, Params: storetest.Params(32),
			Metrics: map[string]float64{"val_loss": 0.125}})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Value == nil || *rec.Value != 0.125 {
			t.Errorf("recorded value = %v, want the objective metric 0.125", rec.Value)
		}
		_, err = b.Record(ctx, st, trials.Trial{State: trials.TrialComplete, Params: storetest.Params(32),
			Metrics: map[string]float64{"accuracy": 0.9}})
		wantKind(t, err, trials.ErrInvalid, "needs a value")
		_, err = b.Record(ctx, st, trials.Trial{State: trials.TrialPruned, Params: storetest.Params(7)})
		wantKind(t, err, trials.ErrInvalid, "batch_size")
	})
}

// TestReportAndRefusals: reports reach the store through its validation;
// asks of a paused study are refused.
func TestReportAndRefusals(t *testing.T) {
	onEveryStore(t, func(t *testing.T, store storetest.Store, b *broker.Broker) {
		ctx := context.Background()
		st := storetest.CreateStudy(t, store, "report", nil)
		tr, err := b.Ask(ctx, st, "")
		if err != nil {
			t.Fatal(err)
		}
		if prune, err := b.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 0, Value: 0.5}); err != nil || prune {
			t.Errorf("Report = %v, %v; want no prune (the study has no pruner)", prune, err)
		}
		_, err = b.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 1, Value: math.NaN()})
		wantKind(t, err, trials.ErrInvalid, "finite")
		_, err = b.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 1, Value: 1, Metrics: map[string]float64{"loss": math.Inf(1)}})
		wantKind(t, err, trials.ErrInvalid, `metric "loss"`)

		if err := b.SetStudyState(ctx, st, trials.StudyPaused); err != nil {
			t.Fatal(err)
		}
		_, err = b.Ask(ctx, st, "")
		wantKind(t, err, trials.ErrConflict, "paused")
	})
}

// TestReapRequeues: an expired lease goes back to waiting and is leased
// again, same params, next attempt.
func TestReapRequeues(t *testing.T) {
	onEveryStore(t, func(t *testing.T, store storetest.Store, b *broker.Broker) {
		ctx := context.Background()
		st := storetest.CreateStudy(t, store, "reap", func(s *trials.Study) { s.MaxRetries = 1 })
		r := trials.Runner{ID: "r1", Workloads: []string{st.Workload.Type}}
		g, err := b.Lease(ctx, r, 0, nil)
		if err != nil || g == nil {
			t.Fatalf("Lease = %v, %v", g, err)
		}
		store.SetClockOffset(time.Duration(st.LeaseSeconds+1) * time.Second)
		requeued, failed, err := b.Reap(ctx)
		if err != nil || requeued != 1 || failed != 0 {
			t.Fatalf("Reap = %d requeued, %d failed, %v; want 1, 0", requeued, failed, err)
		}
		again, err := b.Lease(ctx, r, 0, nil)
		if err != nil || again == nil {
			t.Fatalf("Lease after the reap = %v, %v", again, err)
		}
		if again.Trial.ID != g.Trial.ID || again.Trial.Attempt != 1 || !cmp.Equal(again.Trial.Params, g.Trial.Params) {
			t.Errorf("leased again: trial %d attempt %d params %v; want trial %d attempt 1 params %v",
				again.Trial.ID, again.Trial.Attempt, again.Trial.Params, g.Trial.ID, g.Trial.Params)
		}
	})
}
