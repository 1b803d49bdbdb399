package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
)

func TestRecordFinishedTrials(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", `, "max_trials": 3`)
	params := `"params":{"learning_rate":0.001,"batch_size":128,"activation":"relu","precision":"float32","workers":2}`

	var done openapi.Trial
	e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`, "state": "complete", "value": 0.97,
		"intermediate_values": [{"step": 1, "value": 0.95, "metrics": {"samples_per_second": 5000}}, {"step": 0, "value": 0.9}],
		"metrics": {"val_accuracy": 0.97, "samples_per_second": 5100}, "runner": "old-box", "device": "cpu",
		"started_at": "2026-01-02T03:04:05Z", "finished_at": "2026-01-02T03:05:05Z"}`, http.StatusCreated, &done)
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if done.State != "complete" || done.Number != 0 || done.Value == nil || *done.Value != 0.97 ||
		len(done.IntermediateValues) != 2 || done.IntermediateValues[0].Step != 0 || done.Runner != "old-box" ||
		done.StartedAt == nil || !done.StartedAt.Equal(started) || done.FinishedAt == nil ||
		done.FinishedAt.Sub(*done.StartedAt) != time.Minute || done.Metrics["samples_per_second"] != 5100 {
		t.Errorf("recorded trial = %+v", done)
	}
	var best openapi.Trial
	e.mustDo("GET", "/api/v1/studies/s/best", "", http.StatusOK, &best)
	if best.Id != done.Id {
		t.Errorf("best = trial %d, want the recorded trial %d", best.Id, done.Id)
	}
	var failed openapi.Trial
	e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`, "state": "failed", "error": "CUDA out of memory"}`, http.StatusCreated, &failed)
	if failed.Number != 1 || failed.Error != "CUDA out of memory" || failed.FinishedAt == nil {
		t.Errorf("recorded failure = %+v", failed)
	}
	// The next suggestion takes the next number after the recorded ones.
	if tr := e.ask("s"); tr.Number != 2 {
		t.Errorf("ask after two recorded trials got number %d, want 2", tr.Number)
	}
	// As with a tell, the objective metric stands for a missing value.
	e.createStudy("m", "")
	var fromMetric openapi.Trial
	e.mustDo("POST", "/api/v1/studies/m/trials", `{`+params+`, "state": "complete", "metrics": {"val_accuracy": 0.91}}`, http.StatusCreated, &fromMetric)
	if fromMetric.Value == nil || *fromMetric.Value != 0.91 {
		t.Errorf("complete trial recorded with its objective metric only: value %v, want 0.91", fromMetric.Value)
	}

	for name, c := range map[string]struct {
		body   string
		status int
	}{
		"value on a waiting trial":  {`{` + params + `, "value": 0.5}`, http.StatusUnprocessableEntity},
		"metrics without a state":   {`{` + params + `, "metrics": {"x": 1}}`, http.StatusUnprocessableEntity},
		"complete without a value":  {`{` + params + `, "state": "complete", "metrics": {"val_loss": 0.2}}`, http.StatusUnprocessableEntity},
		"duplicate steps":           {`{` + params + `, "state": "pruned", "intermediate_values": [{"step": 1, "value": 1}, {"step": 1, "value": 2}]}`, http.StatusUnprocessableEntity},
		"finished before started":   {`{` + params + `, "state": "failed", "started_at": "2026-01-02T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z"}`, http.StatusUnprocessableEntity},
		"running is not recordable": {`{` + params + `, "state": "running"}`, http.StatusBadRequest},
		"bad param":                 {`{"params": {"learning_rate": 7}, "state": "pruned"}`, http.StatusUnprocessableEntity},
	} {
		if got := e.do("POST", "/api/v1/studies/s/trials", c.body, nil); got != c.status {
			t.Errorf("%s: status %d, want %d", name, got, c.status)
		}
	}
	// The study is full: nothing more is recorded.
	e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`, "state": "pruned"}`, http.StatusConflict, nil)
	e.mustDo("POST", "/api/v1/studies/nope/trials", `{`+params+`, "state": "pruned"}`, http.StatusNotFound, nil)
}
