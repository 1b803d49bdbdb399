package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// moStudy is Study(name) with two objectives and two constraints.
func moStudy(st *trials.Study) {
	st.Objective = trials.Objective{}
	st.Objectives = []trials.Objective{
		{Metric: "val_accuracy", Direction: trials.Maximize},
		{Metric: "seconds", Direction: trials.Minimize},
	}
	st.Constraints = []trials.Constraint{
		{Metric: "val_accuracy", Min: ptr(0.9)},
		{Metric: "peak_memory_bytes", Min: ptr(0.0), Max: ptr(2e9)},
	}
}

// testObjectivesRoundTrip: a multi-objective study's objectives and
// constraints come back from every read as they were created, and it has
// no best trial (its answer is a front).
func (su suite) testObjectivesRoundTrip(t *testing.T) {
	s := su.open(t)
	ctx := context.Background()
	created := createStudy(t, s, "mo", moStudy)
	want := Study("mo")
	moStudy(&want)
	if !reflect.DeepEqual(created.Objectives, want.Objectives) || !reflect.DeepEqual(created.Constraints, want.Constraints) ||
		created.Objective != (trials.Objective{}) {
		t.Fatalf("created: objective %+v objectives %+v constraints %+v", created.Objective, created.Objectives, created.Constraints)
	}
	byID, err := s.GetStudy(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := s.GetStudyByName(ctx, "mo")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.SummarizeStudy(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*trials.Study{"GetStudy": byID, "GetStudyByName": byName, "SummarizeStudy": &sum.Study} {
		if !reflect.DeepEqual(got.Objectives, want.Objectives) || !reflect.DeepEqual(got.Constraints, want.Constraints) {
			t.Errorf("%s: objectives %+v constraints %+v", name, got.Objectives, got.Constraints)
		}
	}
	// A single-objective study reads back without either.
	single := createStudy(t, s, "single", nil)
	if got, _ := s.GetStudy(ctx, single.ID); got.Objectives != nil || got.Constraints != nil {
		t.Errorf("single-objective study: objectives %+v constraints %+v, want nil", got.Objectives, got.Constraints)
	}
	tr := createRunning(t, s, created.ID, 32, "")
	if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(0.95),
		Metrics: map[string]float64{"val_accuracy": 0.95, "seconds": 3, "peak_memory_bytes": 1e9}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BestTrial(ctx, created.ID); !isKind(err, trials.ErrNotFound) {
		t.Errorf("BestTrial of a multi-objective study: %v, want ErrNotFound", err)
	}
	sums, err := listStudies(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range sums {
		if sum.ID == created.ID && (sum.BestValue != nil || sum.BestTrialID != nil) {
			t.Errorf("summary of a multi-objective study has best %v/%v, want none", sum.BestValue, sum.BestTrialID)
		}
	}
}

// testFailureKind: a failed trial's kind is stored by Tell and AddTrial,
// takes part in the retell check, is refused on other states and when
// unknown, and the reaper fails a trial with no retry left as preempted.
func (su suite) testFailureKind(t *testing.T) {
	s := su.open(t)
	ctx := context.Background()
	st := createStudy(t, s, "kinds", nil)
	tr := createRunning(t, s, st.ID, 16, "")
	oom := trials.Outcome{State: trials.TrialFailed, Error: "CUDA out of memory", FailureKind: trials.FailureOOM}
	got, err := s.Tell(ctx, tr.ID, &tr.Lease, oom)
	if err != nil || got.FailureKind != trials.FailureOOM {
		t.Fatalf("Tell oom = %+v, %v", got, err)
	}
	if again, err := s.Tell(ctx, tr.ID, &tr.Lease, oom); err != nil || again.FailureKind != trials.FailureOOM {
		t.Errorf("retelling the same failure: %v", err)
	}
	other := oom
	other.FailureKind = trials.FailureTimeout
	_, err = s.Tell(ctx, tr.ID, &tr.Lease, other)
	wantErr(t, err, trials.ErrConflict)
	if read, err := s.GetTrial(ctx, tr.ID); err != nil || read.FailureKind != trials.FailureOOM {
		t.Errorf("GetTrial: kind %q, %v", read.FailureKind, err)
	}

	tr2 := createRunning(t, s, st.ID, 32, "")
	_, err = s.Tell(ctx, tr2.ID, &tr2.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(1.0), FailureKind: trials.FailureOOM})
	wantErr(t, err, trials.ErrInvalid, "failed trials only")
	_, err = s.Tell(ctx, tr2.ID, &tr2.Lease, trials.Outcome{State: trials.TrialFailed, FailureKind: "meteor"})
	wantErr(t, err, trials.ErrInvalid, `unknown failure_kind "meteor"`)

	rec, err := s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialFailed, Params: Params(64), FailureKind: trials.FailureDiverged})
	if err != nil || rec.FailureKind != trials.FailureDiverged {
		t.Fatalf("AddTrial diverged = %+v, %v", rec, err)
	}
	_, err = s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(64), FailureKind: trials.FailureOOM})
	wantErr(t, err, trials.ErrInvalid, "failed trials only")

	// tr2 is still running; its lease lapses with no retry left.
	s.SetClockOffset(time.Duration(st.LeaseSeconds+1) * time.Second)
	if _, failed, err := s.ReapExpired(ctx); err != nil || failed != 1 {
		t.Fatalf("ReapExpired: %d failed, %v", failed, err)
	}
	if read, err := s.GetTrial(ctx, tr2.ID); err != nil || read.State != trials.TrialFailed || read.FailureKind != trials.FailurePreempted {
		t.Errorf("reaped trial: %s, kind %q, %v; want failed, preempted", read.State, read.FailureKind, err)
	}
	// Trials that did not fail carry no kind.
	tr3 := createRunning(t, s, st.ID, 48, "")
	if done := tell(t, s, tr3, trials.TrialComplete, 0.5); done.FailureKind != "" {
		t.Errorf("complete trial has kind %q", done.FailureKind)
	}
}

// testBestFeasible: a constrained single-objective study's best trial (and
// summary best) is its best feasible one, as trials.Study.ParetoFront
// computes it from the trials, on random histories.
func (su suite) testBestFeasible(t *testing.T) {
	s := su.open(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	for round := range 6 {
		dir := []trials.Direction{trials.Minimize, trials.Maximize}[round%2]
		st := createStudy(t, s, fmt.Sprint("feasible-", round), func(st *trials.Study) {
			st.Objective.Direction = dir
			st.Constraints = []trials.Constraint{{Metric: "acc", Min: ptr(0.5)}, {Metric: "mem", Max: ptr(4.0)}}
		})
		if _, err := s.BestTrial(ctx, st.ID); !isKind(err, trials.ErrNotFound) {
			t.Fatalf("BestTrial with no trials: %v", err)
		}
		for i := range 25 {
			tr := createRunning(t, s, st.ID, int64(16*(1+i%16)), "")
			m := map[string]float64{"acc": float64(r.IntN(10)) / 10, "mem": float64(r.IntN(8))}
			if r.IntN(8) == 0 {
				delete(m, "mem") // a missing metric breaks its constraint
			}
			v := float64(r.IntN(20))
			if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v, Metrics: m}); err != nil {
				t.Fatal(err)
			}
		}
		all, _, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1, Limit: trials.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		front := st.ParetoFront(all)
		best, err := s.BestTrial(ctx, st.ID)
		sum, serr := s.SummarizeStudy(ctx, st.ID)
		if serr != nil {
			t.Fatal(serr)
		}
		if len(front) == 0 {
			if !isKind(err, trials.ErrNotFound) || sum.BestTrialID != nil {
				t.Errorf("round %d: no feasible trial, but best %+v, %v; summary %v", round, best, err, sum.BestTrialID)
			}
			continue
		}
		if err != nil || best.ID != front[0].ID {
			t.Errorf("round %d (%s): BestTrial = %+v, %v; want trial %d", round, dir, best, err, front[0].Number)
		}
		if sum.BestTrialID == nil || *sum.BestTrialID != front[0].ID || *sum.BestValue != *front[0].Value {
			t.Errorf("round %d: summary best %v/%v, want trial id %d", round, sum.BestTrialID, sum.BestValue, front[0].ID)
		}
	}
}

func isKind(err error, kind *trials.Error) bool {
	return err != nil && trials.KindOf(err) == kind.Kind
}
