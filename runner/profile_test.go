package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// requests records the bodies of the requests whose path ends with
// suffix on their way to the service.
type requests struct {
	suffix string
	mu     sync.Mutex
	bodies [][]byte
}

func (c *requests) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, c.suffix) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			c.mu.Lock()
			c.bodies = append(c.bodies, b)
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *requests) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

// TestMNISTProfileReachesTheService: an mnist-mlp trial's reports carry
// its profile to the service (every phase, the trial's memory, FLOPs and
// the peak for its precision), and the runner's lease requests carry the
// calibrated peaks with the CPU device.
func TestMNISTProfileReachesTheService(t *testing.T) {
	e := runnertest.Unstarted(t)
	reports := &requests{suffix: "/report"}
	leases := &requests{suffix: "/leases"}
	e.Start(func(h http.Handler) http.Handler { return leases.wrap(reports.wrap(h)) })
	e.CreateStudy(map[string]any{
		"name":         "mnist-profile",
		"objective":    map[string]any{"metric": "val_accuracy", "direction": "maximize"},
		"search_space": map[string]any{"precision": map[string]any{"type": "categorical", "choices": []string{"float64"}}},
		"workload":     map[string]any{"type": "mnist-mlp", "options": map[string]any{"train_samples": 512, "test_samples": 200, "epochs": 2, "workers": 2}},
		"max_trials":   1,
	})
	startMNISTRunner(e)
	e.Wait(3*time.Minute, "the study to finish", func() bool { return e.Study("mnist-profile").State == "done" })
	tr := e.Trials("mnist-profile")[0]
	if tr.State != "complete" {
		t.Fatalf("trial %s: %q", tr.State, tr.Error)
	}

	var devicePeak float64
	for _, b := range leases.all() {
		var req openapi.LeaseRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		for _, d := range *req.Runner.Devices {
			if d.Kind == "cpu" && d.PeakFlops != nil {
				devicePeak = (*d.PeakFlops)["float64"]
			}
		}
	}
	if devicePeak <= 0 {
		t.Fatalf("no lease request carried the CPU's peak FLOP/s")
	}

	bodies := reports.all()
	if len(bodies) != 2 {
		t.Fatalf("%d reports, want 2", len(bodies))
	}
	for i, b := range bodies {
		var req openapi.ReportRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		p := req.Profile
		if p == nil || p.Phases == nil {
			t.Fatalf("report %d carries no profile: %s", i, b)
		}
		var sum float64
		for _, name := range []string{trials.PhaseData, trials.PhaseForward, trials.PhaseBackward, trials.PhaseOptimizer,
			trials.PhaseExchange, trials.PhaseEval, trials.PhaseOther} {
			v, ok := (*p.Phases)[name]
			if !ok || v < 0 {
				t.Errorf("report %d: phase %s = %v, %v", i, name, v, ok)
			}
			sum += v
		}
		if math.Abs(sum-p.WallSeconds) > 0.05*p.WallSeconds || (*p.Phases)[trials.PhaseExchange] <= 0 {
			t.Errorf("report %d: phases %v sum to %v of wall %v", i, *p.Phases, sum, p.WallSeconds)
		}
		if p.PeakFlops == nil || *p.PeakFlops != devicePeak || p.MatmulFlops == nil || p.MatmulSeconds == nil || p.HeapPeakBytes == nil {
			t.Errorf("report %d: profile %s", i, b)
		}
		// Once the service keeps profiles, they come back as sent.
		if iv := tr.IntermediateValues; i < len(iv) && iv[i].Profile != nil && iv[i].Profile.WallSeconds != p.WallSeconds {
			t.Errorf("report %d: the service returned wall %v, sent %v", i, iv[i].Profile.WallSeconds, p.WallSeconds)
		}
	}
}

// TestProfileFiguresJSONCannotCarryAreDropped: a workload's profile with
// a NaN phase and a negative figure loses those figures, not the report.
func TestProfileFiguresJSONCannotCarryAreDropped(t *testing.T) {
	e := runnertest.Unstarted(t)
	reports := &requests{suffix: "/report"}
	e.Start(reports.wrap)
	e.CreateStudy(study("bad-profile", map[string]any{"max_trials": 1}))
	e.StartRunner(runner.Config{ID: "r", Workloads: []workload.Workload{fake{run: func(ctx context.Context, t workload.Trial, r workload.Reporter) (workload.Result, error) {
		p := &trials.Profile{WallSeconds: 2, Phases: map[string]float64{"forward": 1, "backward": math.NaN()}, HeapPeakBytes: -5, MatmulFLOPs: math.Inf(1)}
		if _, err := r.Report(ctx, 0, map[string]float64{"loss": 0.5}, p); err != nil {
			return workload.Result{}, err
		}
		return workload.Result{Metrics: map[string]float64{"loss": 0.5}}, nil
	}}}})
	e.Wait(time.Minute, "the study to finish", func() bool { return e.Study("bad-profile").State == "done" })
	tr := e.Trials("bad-profile")[0]
	if tr.State != "complete" || len(tr.IntermediateValues) != 1 {
		t.Fatalf("trial %s with %d intermediate values", tr.State, len(tr.IntermediateValues))
	}
	bodies := reports.all()
	if len(bodies) != 1 {
		t.Fatalf("%d reports", len(bodies))
	}
	var req openapi.ReportRequest
	if err := json.Unmarshal(bodies[0], &req); err != nil {
		t.Fatal(err)
	}
	p := req.Profile
	if p == nil || p.WallSeconds != 2 || p.Phases == nil || len(*p.Phases) != 1 || (*p.Phases)["forward"] != 1 ||
		p.HeapPeakBytes != nil || p.MatmulFlops != nil {
		t.Errorf("profile sent: %s", bodies[0])
	}
}
