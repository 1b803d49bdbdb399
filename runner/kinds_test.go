package runner_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

func TestFailureKindsAreTold(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	e.CreateStudy(study("s", nil))
	loss := func(v float64) (workload.Result, error) {
		return workload.Result{Metrics: map[string]float64{"loss": v}}, nil
	}
	cases := []struct {
		name     string
		run      func(ctx context.Context, r workload.Reporter) (workload.Result, error)
		kind     string
		errorHas string
	}{
		{"oom", func(context.Context, workload.Reporter) (workload.Result, error) {
			return workload.Result{}, workload.Fail(trials.FailureOOM, errors.New("batch did not fit"))
		}, "oom", "batch did not fit"},
		{"wrapped", func(context.Context, workload.Reporter) (workload.Result, error) {
			return workload.Result{}, fmt.Errorf("epoch 2: %w", workload.Fail(trials.FailureTimeout, errors.New("too slow")))
		}, "timeout", "epoch 2: too slow"},
		{"plain error", func(context.Context, workload.Reporter) (workload.Result, error) {
			return workload.Result{}, errors.New("no such file")
		}, "error", "no such file"},
		{"panic", func(context.Context, workload.Reporter) (workload.Result, error) { panic("boom") }, "error", "panicked: boom"},
		{"nan result", func(context.Context, workload.Reporter) (workload.Result, error) { return loss(math.NaN()) }, "diverged", "objective metric loss is NaN"},
		{"inf result", func(context.Context, workload.Reporter) (workload.Result, error) { return loss(math.Inf(1)) }, "diverged", "objective metric loss is +Inf"},
		{"nan report", func(ctx context.Context, r workload.Reporter) (workload.Result, error) {
			if _, err := r.Report(ctx, 0, map[string]float64{"loss": 0.5}, nil); err != nil {
				return workload.Result{}, err
			}
			if _, err := r.Report(ctx, 1, map[string]float64{"loss": math.Inf(-1)}, nil); err != nil {
				return workload.Result{}, err
			}
			return loss(0.1) // not reached: the report said stop
		}, "diverged", "objective metric loss is -Inf at step 1"},
		{"no objective", func(context.Context, workload.Reporter) (workload.Result, error) {
			return workload.Result{Metrics: map[string]float64{"acc": 1}}, nil
		}, "error", "lacks the objective metric loss"},
		{"complete", func(context.Context, workload.Reporter) (workload.Result, error) { return loss(0.25) }, "", ""},
	}
	var n atomic.Int32
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		i := int(n.Add(1)) - 1
		if i >= len(cases) {
			<-ctx.Done()
			return workload.Result{}, ctx.Err()
		}
		return cases[i].run(ctx, r)
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	e.Wait(30*time.Second, "every case told", func() bool {
		c := e.Study("s").Counts
		return c.Failed+c.Complete == len(cases)
	})
	trs := e.Trials("s")
	for i, c := range cases {
		tr := trs[i]
		if kind := tap.FailureKind(e, tr.Id); kind != c.kind || !strings.Contains(tr.Error, c.errorHas) {
			t.Errorf("%s: trial %s, failure_kind %q, error %q; want kind %q and an error with %q", c.name, tr.State, kind, tr.Error, c.kind, c.errorHas)
		}
		if want := map[bool]string{true: "complete", false: "failed"}[c.kind == ""]; string(tr.State) != want {
			t.Errorf("%s: trial %s, want %s", c.name, tr.State, want)
		}
	}
	// The diverged report was not sent; the one before it was.
	if iv := trs[6].IntermediateValues; len(iv) != 1 || iv[0].Value != 0.5 {
		t.Errorf("nan report: intermediate values %+v, want step 0 only", iv)
	}
}

func TestShutdownTellsPreempted(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	e.CreateStudy(study("s", map[string]any{"lease_seconds": 600}))
	started := make(chan int64, 1)
	r := e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{fake{run: blockUntilCancelled(started)}}})
	id := <-started
	r.Stop(t)
	tr := e.Trial(id)
	if kind := tap.FailureKind(e, id); tr.State != "failed" || kind != "preempted" || !strings.Contains(tr.Error, "stopped (SIGTERM)") {
		t.Errorf("trial after SIGTERM: %s, failure_kind %q, error %q; want failed, preempted", tr.State, kind, tr.Error)
	}
}

// multiObjective shows runners the study as one with two objectives and a
// constraint, as a service that stores them hands it out.
func multiObjective(study map[string]any) {
	delete(study, "objective")
	study["objectives"] = []any{
		map[string]any{"metric": "loss", "direction": "minimize"},
		map[string]any{"metric": "cost", "direction": "minimize"},
	}
	study["constraints"] = []any{map[string]any{"metric": "memory", "max": 100.0}}
}

func TestMultiObjectiveStudy(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	tap.RewriteGrants(multiObjective)
	e.CreateStudy(study("s", map[string]any{"max_trials": 4}))

	var mu sync.Mutex
	var seen []workload.Trial
	results := []map[string]float64{
		{"loss": 0.5, "cost": 3, "memory": 50, "other": 1},
		{"loss": 0.5, "memory": 50},
		{"loss": 0.5},
		{"loss": 0.5, "cost": math.NaN(), "memory": 50},
	}
	var n atomic.Int32
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
		// Each objective and constraint metric is reported; the first
		// objective is the step's value.
		if _, err := r.Report(ctx, 0, map[string]float64{"loss": 0.7, "cost": 2, "memory": 10}, nil); err != nil {
			return workload.Result{}, err
		}
		return workload.Result{Metrics: results[n.Add(1)-1]}, nil
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	e.Wait(30*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })

	mu.Lock()
	defer mu.Unlock()
	wantGoals := []trials.Objective{{Metric: "loss", Direction: trials.Minimize}, {Metric: "cost", Direction: trials.Minimize}}
	for _, wt := range seen {
		if wt.Objective != wantGoals[0] || !slices.Equal(wt.Objectives, wantGoals) ||
			len(wt.Constraints) != 1 || wt.Constraints[0].Metric != "memory" || *wt.Constraints[0].Max != 100 {
			t.Errorf("the workload got objective %+v, objectives %+v, constraints %+v", wt.Objective, wt.Objectives, wt.Constraints)
		}
	}
	trs := e.Trials("s")
	want := []struct{ state, kind, errorHas string }{
		{"complete", "", ""},
		{"failed", "error", "lacks the objective and constraint metrics cost (it has loss, memory)"},
		{"failed", "error", "lacks the objective and constraint metrics cost, memory (it has loss)"},
		{"failed", "diverged", "objective metric cost is NaN"},
	}
	for i, w := range want {
		tr := trs[i]
		tell, _ := tap.Tell(tr.Id)
		if kind := tap.FailureKind(e, tr.Id); string(tr.State) != w.state || kind != w.kind || !strings.Contains(tr.Error, w.errorHas) {
			t.Errorf("trial %d: %s, failure_kind %q, error %q; want %s, %q, %q", i, tr.State, kind, tr.Error, w.state, w.kind, w.errorHas)
		}
		if iv := tr.IntermediateValues; len(iv) != 1 || iv[0].Value != 0.7 || iv[0].Metrics == nil || (*iv[0].Metrics)["cost"] != 2 {
			t.Errorf("trial %d: intermediate values %+v, want loss as the value and cost among the metrics", i, iv)
		}
		if i == 0 && (tell.Value == nil || *tell.Value != 0.5 || tell.Metrics == nil || (*tell.Metrics)["cost"] != 3 || (*tell.Metrics)["other"] != 1) {
			t.Errorf("complete tell = value %v metrics %v, want the first objective as the value and every metric", tell.Value, tell.Metrics)
		}
	}
}

func TestStudyWithoutObjectiveFailsItsTrials(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	tap.RewriteGrants(func(s map[string]any) { delete(s, "objective") })
	e.CreateStudy(study("s", map[string]any{"max_trials": 1}))
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{fake{run: quick}}})
	e.Wait(30*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })
	tr := e.Trials("s")[0]
	if tr.State != "failed" || !strings.Contains(tr.Error, "names no objective") || tap.FailureKind(e, tr.Id) != "error" {
		t.Errorf("trial = %s %q", tr.State, tr.Error)
	}
}

func TestQuickInfeasibleFailuresDoNotPauseTheStudy(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 3}))
	oom := fake{run: func(context.Context, workload.Trial, workload.Reporter) (workload.Result, error) {
		return workload.Result{}, workload.Fail(trials.FailureOOM, errors.New("out of memory"))
	}}
	// One quick failure of kind error would pause the study for a minute.
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{oom},
		FailureBackoff: runner.FailureBackoff{After: 1, Initial: time.Minute}})
	e.Wait(30*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })
	for _, tr := range e.Trials("s") {
		if tr.State != "failed" {
			t.Errorf("trial %d: %s", tr.Number, tr.State)
		}
	}
}
