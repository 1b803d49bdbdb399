package command_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/command"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
)

// reportBodies records the report requests on their way to the service.
type reportBodies struct {
	mu     sync.Mutex
	bodies []openapi.ReportRequest
}

func (c *reportBodies) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/report") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			var req openapi.ReportRequest
			if json.Unmarshal(b, &req) == nil {
				c.mu.Lock()
				c.bodies = append(c.bodies, req)
				c.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *reportBodies) all() []openapi.ReportRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]openapi.ReportRequest(nil), c.bodies...)
}

// TestReportProfiles: a command's report profile goes to the service
// with the report; a report with a bad profile is skipped with a warning
// in the runner's log that says why, and the command goes on.
func TestReportProfiles(t *testing.T) {
	e := runnertest.Unstarted(t)
	reports := &reportBodies{}
	e.Start(reports.wrap)
	script := `
echo 'TUNE_REPORT {"step": 0, "loss": 0.9, "profile": {"wall_seconds": 2, "phases": {"data": 0.5, "forward": 1, "h2d_copy": 0.25}, "rss_peak_bytes": 1048576, "device_peak_bytes": 4096}}'
echo 'TUNE_REPORT {"step": 1, "loss": 0.8, "profile": {"phases": {"data": -0.5}}}'
echo 'TUNE_REPORT {"step": 2, "loss": 0.7}'
echo 'TUNE_RESULT {"loss": 0.7}'
`
	e.CreateStudy(execStudy("profiles", script, nil))
	var logs runnertest.LogBuffer
	a, err := command.ParseAllow([]string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	w := command.New(command.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), KillGrace: time.Second, Allow: a})
	e.StartRunner(runner.Config{ID: "exec-runner", Workloads: []workload.Workload{w}})
	tr := onlyTrial(t, e, "profiles")
	if tr.State != "complete" || *tr.Value != 0.7 {
		t.Fatalf("trial %s value %v: %q", tr.State, tr.Value, tr.Error)
	}
	if len(tr.IntermediateValues) != 2 || tr.IntermediateValues[0].Step != 0 || tr.IntermediateValues[1].Step != 2 {
		t.Errorf("intermediate values %+v, want steps 0 and 2 (1 skipped)", tr.IntermediateValues)
	}
	got := reports.all()
	if len(got) != 2 {
		t.Fatalf("%d reports sent, want 2", len(got))
	}
	p := got[0].Profile
	if p == nil || p.WallSeconds != 2 || p.Phases == nil || (*p.Phases)["h2d_copy"] != 0.25 || len(*p.Phases) != 3 ||
		p.RssPeakBytes == nil || *p.RssPeakBytes != 1<<20 || p.DevicePeakBytes == nil || *p.DevicePeakBytes != 4096 {
		t.Errorf("first report's profile: %+v", p)
	}
	if got[1].Profile != nil {
		t.Errorf("a report without a profile sent one: %+v", got[1].Profile)
	}
	if l := logs.String(); !strings.Contains(l, "report line skipped") || !strings.Contains(l, "phases.data = -0.5 is negative") {
		t.Errorf("the runner's log does not say why the report was skipped:\n%s", l)
	}
}

// TestExampleTrainingScriptProfiles: the example script's reports carry
// a profile whose phases sum to its wall time.
func TestExampleTrainingScriptProfiles(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	script, err := filepath.Abs("testdata/example_train.py")
	if err != nil {
		t.Fatal(err)
	}
	e := runnertest.Unstarted(t)
	reports := &reportBodies{}
	e.Start(reports.wrap)
	e.CreateStudy(map[string]any{
		"name":         "example-profile",
		"objective":    map[string]any{"metric": "val_accuracy", "direction": "maximize"},
		"search_space": map[string]any{"epochs": map[string]any{"type": "int", "low": 2, "high": 2}},
		"workload": map[string]any{"type": "exec", "options": map[string]any{
			"command": []string{python, script},
			"env":     map[string]any{"EXAMPLE_SIMULATE": "1"},
		}},
		"max_trials": 1,
	})
	startExecRunner(e, 1, python)
	if tr := onlyTrial(t, e, "example-profile"); tr.State != "complete" {
		t.Fatalf("trial %s: %q", tr.State, tr.Error)
	}
	got := reports.all()
	if len(got) != 2 {
		t.Fatalf("%d reports", len(got))
	}
	for i, r := range got {
		p := r.Profile
		if p == nil || p.Phases == nil || p.RssPeakBytes == nil || *p.RssPeakBytes <= 0 {
			t.Fatalf("report %d: profile %+v", i, p)
		}
		var sum float64
		for _, name := range []string{"data", "forward", "backward", "optimizer", "eval", "other"} {
			v, ok := (*p.Phases)[name]
			if !ok {
				t.Errorf("report %d lacks phase %s", i, name)
			}
			sum += v
		}
		if d := sum - p.WallSeconds; d > 1e-9 || d < -0.05*p.WallSeconds {
			t.Errorf("report %d: phases sum to %v, wall %v", i, sum, p.WallSeconds)
		}
	}
}
