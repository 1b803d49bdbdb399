package mnist

import (
	"context"
	"strings"
	"testing"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

func TestDivergenceFailsAtOnceAsDiverged(t *testing.T) {
	_, r, err := run(t, small(nil), map[string]any{"optimizer": "sgd", "learning_rate": 1e6, "activation": "relu"})
	if kind := workload.KindOf(err); kind != trials.FailureDiverged || !strings.Contains(err.Error(), "at epoch 1 step") {
		t.Fatalf("kind %q, error %v; want diverged in the first epoch", kind, err)
	}
	if len(r.steps) != 0 {
		t.Errorf("reported %v: a diverged trial must stop before its first evaluation", r.steps)
	}
}

func TestMemoryLimit(t *testing.T) {
	_, r, err := run(t, small(map[string]any{"max_memory_bytes": 1}), nil)
	if kind := workload.KindOf(err); kind != trials.FailureOOM ||
		!strings.Contains(err.Error(), "over max_memory_bytes 1, at epoch 1 step 1") {
		t.Fatalf("kind %q, error %v; want oom at the first check", kind, err)
	}
	if len(r.steps) != 0 {
		t.Errorf("reported %v after running out of memory", r.steps)
	}
	// A limit the model fits in changes nothing.
	if res, _, err := run(t, small(map[string]any{"max_memory_bytes": 1 << 40}), nil); err != nil || res.Metrics["val_accuracy"] <= 0 {
		t.Errorf("with room to spare: %v, %v", res.Metrics, err)
	}
}

func TestSecondsToAccuracy(t *testing.T) {
	res, r, err := run(t, small(map[string]any{"target_accuracy": 0.3, "learning_rate": 0.003}), nil)
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := res.Metrics["seconds_to_accuracy"]
	if !ok || sec <= 0 || sec > res.Metrics["wall_seconds"] {
		t.Fatalf("seconds_to_accuracy = %v (present %v), wall_seconds %v", sec, ok, res.Metrics["wall_seconds"])
	}
	// It appears in the report of the epoch that reached the target, with
	// the same value in every later one.
	first := -1
	for i, m := range r.metrics {
		v, has := m["seconds_to_accuracy"]
		switch {
		case has && first < 0:
			first = i
			if m["val_accuracy"] < 0.3 {
				t.Errorf("epoch %d reports seconds_to_accuracy at val_accuracy %v", r.steps[i], m["val_accuracy"])
			}
			if i > 0 && r.metrics[i-1]["val_accuracy"] >= 0.3 {
				t.Errorf("the target was reached before epoch %d", r.steps[i])
			}
			fallthrough
		case has:
			if v != sec {
				t.Errorf("epoch %d: seconds_to_accuracy %v, result %v", r.steps[i], v, sec)
			}
		case first >= 0:
			t.Errorf("epoch %d lost seconds_to_accuracy", r.steps[i])
		}
	}
	if first < 0 {
		t.Errorf("no report has seconds_to_accuracy: %v", r.metrics)
	}
}

func TestTargetNotReached(t *testing.T) {
	opts := small(map[string]any{"target_accuracy": 1.0, "epochs": 1})
	needs := map[string]workload.Trial{
		"objective": {Objective: trials.Objective{Metric: "seconds_to_accuracy"}},
		"one of the objectives": {Objective: trials.Objective{Metric: "val_accuracy"},
			Objectives: []trials.Objective{{Metric: "val_accuracy"}, {Metric: "seconds_to_accuracy"}}},
		"constraint": {Objective: trials.Objective{Metric: "val_accuracy"},
			Constraints: []trials.Constraint{{Metric: "seconds_to_accuracy", Max: new(60.0)}}},
	}
	for name, tr := range needs {
		tr.Options = opts
		_, err := testWorkload.Run(context.Background(), tr, &recorder{})
		if kind := workload.KindOf(err); kind != trials.FailureTimeout ||
			!strings.Contains(err.Error(), "val_accuracy did not reach target_accuracy 1 in 1 epochs") {
			t.Errorf("%s: kind %q, error %v; want timeout", name, kind, err)
		}
	}
	// A study that does not need the metric completes without it.
	res, err := testWorkload.Run(context.Background(), workload.Trial{Options: opts, Objective: trials.Objective{Metric: "val_accuracy"}}, &recorder{})
	if _, has := res.Metrics["seconds_to_accuracy"]; err != nil || has {
		t.Errorf("val_accuracy study: %v, %v; want complete without seconds_to_accuracy", res.Metrics, err)
	}
}

func TestLimitOptionsAreChecked(t *testing.T) {
	for _, opts := range []map[string]any{
		{"target_accuracy": 0.0}, {"target_accuracy": 1.5}, {"target_accuracy": -0.5}, {"target_accuracy": "high"},
		{"max_memory_bytes": 0}, {"max_memory_bytes": -1}, {"max_memory_bytes": 1.5},
	} {
		if _, err := ConfigFor(opts, nil); err == nil {
			t.Errorf("%v accepted", opts)
		}
	}
	// They are options of the study, not params to search.
	if _, err := ConfigFor(nil, trials.Params{"target_accuracy": 0.9}); err == nil {
		t.Error("target_accuracy accepted as a param")
	}
	c, err := ConfigFor(map[string]any{"target_accuracy": 1.0, "max_memory_bytes": 2e9}, nil)
	if err != nil || c.TargetAccuracy != 1 || c.MaxMemoryBytes != 2e9 {
		t.Errorf("config %+v, %v", c, err)
	}
}
