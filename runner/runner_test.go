package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
)

// fake is an in-test workload of type "fake".
type fake struct {
	run func(ctx context.Context, t workload.Trial, r workload.Reporter) (workload.Result, error)
}

func (fake) Type() string { return "fake" }

func (f fake) Run(ctx context.Context, t workload.Trial, r workload.Reporter) (workload.Result, error) {
	return f.run(ctx, t, r)
}

// quick reports three steps of a loss that depends on x and completes.
func quick(ctx context.Context, t workload.Trial, r workload.Reporter) (workload.Result, error) {
	x := t.Params["x"].(float64)
	for step := range 3 {
		if _, err := r.Report(ctx, step, map[string]float64{"loss": x + 1/float64(step+1), "samples_per_second": 1000}, nil); err != nil {
			return workload.Result{}, err
		}
	}
	return workload.Result{Metrics: map[string]float64{"loss": x, "samples_per_second": 1000, "wall_seconds": 0.01}}, nil
}

// blockUntilCancelled signals started, then waits for its context.
func blockUntilCancelled(started chan<- int64) func(context.Context, workload.Trial, workload.Reporter) (workload.Result, error) {
	return func(ctx context.Context, t workload.Trial, _ workload.Reporter) (workload.Result, error) {
		started <- t.ID
		<-ctx.Done()
		return workload.Result{}, ctx.Err()
	}
}

func study(name string, extra map[string]any) map[string]any {
	s := map[string]any{
		"name":         name,
		"objective":    map[string]any{"metric": "loss", "direction": "minimize"},
		"search_space": map[string]any{"x": map[string]any{"type": "float", "low": 0, "high": 1}},
		"workload":     map[string]any{"type": "fake"},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func TestTwoRunnersCompleteAStudy(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 8}))

	var running, most atomic.Int32
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		return quick(ctx, tr, r)
	}}
	for _, id := range []string{"r1", "r2"} {
		e.StartRunner(runner.Config{ID: id, Parallel: 2, Workloads: []workload.Workload{w}})
	}
	e.Wait(60*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })

	s := e.Study("s")
	if s.Counts.Complete != 8 {
		t.Errorf("counts = %+v, want 8 complete", s.Counts)
	}
	runners := map[string]int{}
	for _, tr := range e.Trials("s") {
		runners[tr.Runner]++
		if tr.Device != "cpu" {
			t.Errorf("trial %d ran on %q, want the runner's device cpu", tr.Number, tr.Device)
		}
		if len(tr.IntermediateValues) != 3 || tr.Metrics["samples_per_second"] != 1000 || tr.Value == nil || *tr.Value != tr.Params["x"] {
			t.Errorf("trial %d = %+v", tr.Number, tr)
		}
		if iv := tr.IntermediateValues[0]; iv.Metrics == nil || (*iv.Metrics)["samples_per_second"] != 1000 || (*iv.Metrics)["loss"] != 0 {
			t.Errorf("trial %d step 0 = %+v: want the objective as the value only and the rest as metrics", tr.Number, iv)
		}
	}
	if len(runners) != 2 {
		t.Errorf("trials per runner = %v, want both runners used", runners)
	}
	if most.Load() < 2 {
		t.Errorf("at most %d trials ran at once with 2 runners × 2 slots", most.Load())
	}
}

func TestHeartbeatsKeepALongTrialAlive(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 1, "lease_seconds": 2, "max_retries": 0}))
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return workload.Result{}, context.Cause(ctx)
		}
		return quick(ctx, tr, r)
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	e.Wait(30*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })
	tr := e.Trials("s")[0]
	if tr.State != "complete" || tr.Attempt != 0 || tr.Runner != "r1" {
		t.Errorf("a 5 s trial with 2 s leases ended as %s (attempt %d, error %q)", tr.State, tr.Attempt, tr.Error)
	}
}

func TestCrashedRunnersTrialGoesToAnother(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 1, "lease_seconds": 30, "max_retries": 1}))

	started := make(chan int64, 1)
	crashing := e.StartRunner(runner.Config{ID: "crashes", AbandonOnShutdown: true,
		Workloads: []workload.Workload{fake{run: blockUntilCancelled(started)}}})
	id := <-started
	first := e.Trial(id)
	crashing.Stop(t)
	if tr := e.Trial(id); tr.State != "running" || tr.Runner != "crashes" {
		t.Fatalf("after the crash the trial is %s by %q, want still running: the crash must not tell", tr.State, tr.Runner)
	}

	// The lease runs out (on the database clock) and the reaper requeues
	// the trial for the next runner.
	e.Store.SetClockOffset(31 * time.Second)
	e.WaitTrial(id, 10*time.Second, func(tr openapi.Trial) bool { return tr.State == "waiting" })
	var gotParams atomic.Value
	e.StartRunner(runner.Config{ID: "survives", Workloads: []workload.Workload{fake{
		run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
			gotParams.Store(tr.Params["x"])
			return quick(ctx, tr, r)
		}}}})
	tr := e.WaitTrial(id, 20*time.Second, runnertest.Finished)
	if tr.State != "complete" || tr.Attempt != 1 || tr.Runner != "survives" || tr.Params["x"] != first.Params["x"] || gotParams.Load() != first.Params["x"] {
		t.Errorf("retried trial = %+v; first grant had params %v", tr, first.Params)
	}
}

func TestShutdownTellsRunningTrialsFailed(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"lease_seconds": 600}))
	started := make(chan int64, 2)
	r := e.StartRunner(runner.Config{ID: "r1", Parallel: 2, Workloads: []workload.Workload{fake{run: blockUntilCancelled(started)}}})
	ids := []int64{<-started, <-started}
	begin := time.Now()
	r.Stop(t)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Run took %s to return after cancellation", d)
	}
	for _, id := range ids {
		tr := e.Trial(id)
		if tr.State != "failed" || tr.Error != "runner r1 stopped (SIGTERM) during the trial" {
			t.Errorf("trial %d after shutdown: %s %q", tr.Number, tr.State, tr.Error)
		}
	}
	// No new work was taken after the stop.
	if n := len(e.Trials("s")); n != 2 {
		t.Errorf("study has %d trials, want the 2 that were running", n)
	}
}

func TestServiceDownAtStart(t *testing.T) {
	e := runnertest.Unstarted(t)
	logs := &runnertest.LogBuffer{}
	e.StartRunner(runner.Config{ID: "early", Workloads: []workload.Workload{fake{run: quick}},
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil))})
	// Let the runner fail a good number of times.
	time.Sleep(time.Second)
	e.Start(nil)
	e.CreateStudy(study("s", map[string]any{"max_trials": 2}))
	e.Wait(30*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })
	if c := e.Study("s").Counts; c.Complete != 2 {
		t.Errorf("counts = %+v", c)
	}
	out := logs.String()
	if n := strings.Count(out, "tune server unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "tune server reachable again") {
		t.Errorf("the recovery was not logged:\n%s", out)
	}
}

// flaky answers tell requests with 503 a few times: the first one after
// the service recorded it (the answer was lost), the next one without
// forwarding it at all.
type flaky struct {
	next  http.RoundTripper
	mu    sync.Mutex
	tells int
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/tell") {
		return f.next.RoundTrip(req)
	}
	f.mu.Lock()
	f.tells++
	n := f.tells
	f.mu.Unlock()
	unavailable := func() *http.Response {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("try later")), Request: req}
	}
	switch n {
	case 1:
		resp, err := f.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		return unavailable(), nil
	case 2:
		return unavailable(), nil
	}
	return f.next.RoundTrip(req)
}

func TestTellRetriedAfterTransientFailures(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 1}))
	f := &flaky{next: http.DefaultTransport}
	e.StartRunner(runner.Config{ID: "r1", HTTPClient: &http.Client{Transport: f}, Workloads: []workload.Workload{fake{run: quick}}})
	tells := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.tells
	}
	// The first tell got through, so the study is done at once; the runner
	// only learns it from the third attempt's answer.
	e.Wait(30*time.Second, "three tells", func() bool { return tells() >= 3 })
	tr := e.Trials("s")[0]
	if tr.State != "complete" || tr.Value == nil || *tr.Value != tr.Params["x"] || len(tr.IntermediateValues) != 3 {
		t.Errorf("trial = %+v", tr)
	}
	time.Sleep(100 * time.Millisecond)
	if n := tells(); n != 3 {
		t.Errorf("tell sent %d times, want 3 (two 503s, then success)", n)
	}
}

func TestLostLeaseDropsTheResult(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"max_trials": 1, "lease_seconds": 3, "max_retries": 1}))
	var runs atomic.Int32
	causes := make(chan error, 2)
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		if runs.Add(1) == 1 {
			// Block until the runner gives up on the lease.
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return workload.Result{Metrics: map[string]float64{"loss": 99}}, nil
		}
		return quick(ctx, tr, r)
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	e.Wait(10*time.Second, "the first run", func() bool { return runs.Load() == 1 })
	// Expire the lease on the database clock: the reaper requeues the
	// trial, and the next heartbeat (every second) gets 409.
	e.Store.SetClockOffset(time.Minute)
	select {
	case err := <-causes:
		if err == nil || !strings.Contains(err.Error(), "lease") {
			t.Errorf("the first run was cancelled with %v, want the lost lease", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the workload was not cancelled after its lease was lost")
	}
	e.Wait(20*time.Second, "the study to finish", func() bool { return e.Study("s").State == "done" })
	tr := e.Trials("s")[0]
	if tr.State != "complete" || tr.Attempt != 1 || *tr.Value == 99 {
		t.Errorf("trial = %s attempt %d value %v: the lost grant's result must not be told", tr.State, tr.Attempt, *tr.Value)
	}
}

func TestStoppedStudyCancelsItsTrials(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", map[string]any{"lease_seconds": 3}))
	started := make(chan int64, 1)
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		if _, err := r.Report(ctx, 0, map[string]float64{"loss": 0.5}, nil); err != nil {
			return workload.Result{}, err
		}
		started <- tr.ID
		<-ctx.Done()
		return workload.Result{}, ctx.Err()
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	id := <-started
	e.Do("PATCH", "/studies/s", map[string]any{"state": "done"}, nil)
	tr := e.WaitTrial(id, 10*time.Second, runnertest.Finished)
	if tr.State != "pruned" || tr.Value == nil || *tr.Value != 0.5 || !strings.Contains(tr.Error, "stopped") {
		t.Errorf("trial of the stopped study = %s value %v error %q, want pruned at its last value", tr.State, tr.Value, tr.Error)
	}
}

func TestBrokenWorkloadResults(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(study("s", nil))
	outcomes := []func() (workload.Result, error){
		func() (workload.Result, error) {
			return workload.Result{Metrics: map[string]float64{"accuracy": 1}}, nil
		},
		func() (workload.Result, error) { panic("out of cheese") },
		func() (workload.Result, error) {
			return workload.Result{}, errors.New(strings.Repeat("x", 10000) + "THE END")
		},
		func() (workload.Result, error) { return workload.Result{}, workload.ErrPruned },
	}
	var n atomic.Int32
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		// A report without the objective is skipped, not fatal.
		if _, err := r.Report(ctx, 0, map[string]float64{"accuracy": 0.3}, nil); err != nil {
			return workload.Result{}, err
		}
		i := int(n.Add(1)) - 1
		if i >= len(outcomes) {
			<-ctx.Done()
			return workload.Result{}, ctx.Err()
		}
		return outcomes[i]()
	}}
	e.StartRunner(runner.Config{ID: "r1", Workloads: []workload.Workload{w}})
	e.Wait(20*time.Second, "four finished trials", func() bool {
		c := e.Study("s").Counts
		return c.Failed+c.Pruned == len(outcomes)
	})
	trs := e.Trials("s")
	want := []struct{ state, errPart string }{
		{"failed", "workload result lacks the objective metric loss (it has accuracy)"},
		{"failed", "workload fake panicked: out of cheese"},
		{"failed", "THE END"},
		{"pruned", ""},
	}
	for i, w := range want {
		tr := trs[i]
		if string(tr.State) != w.state || !strings.Contains(tr.Error, w.errPart) || len(tr.IntermediateValues) != 0 {
			t.Errorf("trial %d = %s %.100q with %d intermediate values, want %s with %q", i, tr.State, tr.Error, len(tr.IntermediateValues), w.state, w.errPart)
		}
	}
	if n := len(trs[2].Error); n > 4200 {
		t.Errorf("a 10 kB error was told in %d bytes", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	w := []workload.Workload{fake{run: quick}}
	for name, cfg := range map[string]runner.Config{
		"no server":       {Workloads: w},
		"bad scheme":      {Server: "ftp://x", Workloads: w},
		"no workloads":    {Server: "http://x"},
		"duplicate types": {Server: "http://x", Workloads: append(w, fake{run: quick})},
		"bad device":      {Server: "http://x", Workloads: w, Device: "tpu"},
		"cuda":            {Server: "http://x", Workloads: w, Device: "cuda:0"},
		"negative slots":  {Server: "http://x", Workloads: w, Parallel: -1},
		"long wait":       {Server: "http://x", Workloads: w, WaitSeconds: 61},
	} {
		if _, err := runner.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		} else if name == "cuda" && !runner.CUDA && !strings.Contains(err.Error(), "built without CUDA support; rebuild with -tags tune_cuda") {
			t.Errorf("cuda without the tag: %v", err)
		}
	}
	r, err := runner.New(runner.Config{Server: "http://tune:8080/api/v1/", Workloads: w})
	if err != nil {
		t.Fatal(err)
	}
	if r.Device() != "cpu" || r.ID() == "" || fmt.Sprint(r.Workloads()) != "[fake]" {
		t.Errorf("defaults: device %q id %q workloads %v", r.Device(), r.ID(), r.Workloads())
	}
	if d := r.Devices(); len(d) == 0 || d[0].Kind != "cpu" {
		t.Errorf("devices = %+v, want the cpu first", d)
	}
}
