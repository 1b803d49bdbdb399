package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/mnist"
	"github.com/tune-dev/tune/runner/workload"
)

// mnistOptions keeps MNIST runs small: a thousand training images, two
// epochs.
var mnistOptions = map[string]any{"train_samples": 1000, "test_samples": 500, "epochs": 2}

func startMNISTRunner(e *runnertest.Env) {
	e.StartRunner(runner.Config{ID: "mnist-runner", Workloads: []workload.Workload{mnist.New(mnist.Options{})}})
}

func TestMNISTThroughTheRunner(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(map[string]any{
		"name":      "mnist",
		"objective": map[string]any{"metric": "val_accuracy", "direction": "maximize"},
		"search_space": map[string]any{
			"learning_rate": map[string]any{"type": "float", "low": 1e-3, "high": 1e-2, "log": true},
			"batch_size":    map[string]any{"type": "int", "low": 32, "high": 128, "log": true},
			"activation":    map[string]any{"type": "categorical", "choices": []string{"relu", "tanh"}},
		},
		"workload":   map[string]any{"type": "mnist-mlp", "options": mnistOptions},
		"max_trials": 3,
	})
	startMNISTRunner(e)
	e.Wait(3*time.Minute, "the study to finish", func() bool { return e.Study("mnist").State == "done" })
	for _, tr := range e.Trials("mnist") {
		if tr.State != "complete" {
			t.Fatalf("trial %d: %s %q", tr.Number, tr.State, tr.Error)
		}
		for _, m := range []string{"val_accuracy", "val_loss", "train_loss", "samples_per_second", "seconds_per_epoch", "wall_seconds", "peak_memory_bytes"} {
			if v, ok := tr.Metrics[m]; !ok || v < 0 {
				t.Errorf("trial %d: metric %s = %v, %v", tr.Number, m, v, ok)
			}
		}
		if len(tr.IntermediateValues) != 2 {
			t.Errorf("trial %d: %d intermediate values, want one per epoch", tr.Number, len(tr.IntermediateValues))
		}
		if *tr.Value != tr.Metrics["val_accuracy"] || *tr.Value < 0.5 {
			t.Errorf("trial %d: value %v, metrics %v", tr.Number, *tr.Value, tr.Metrics)
		}
	}
}

func TestMNISTPruning(t *testing.T) {
	e := runnertest.New(t)
	e.CreateStudy(map[string]any{
		"name":      "mnist-prune",
		"objective": map[string]any{"metric": "val_accuracy", "direction": "maximize"},
		"search_space": map[string]any{
			"learning_rate": map[string]any{"type": "float", "low": 1e-6, "high": 10, "log": true},
			"optimizer":     map[string]any{"type": "categorical", "choices": []string{"adam", "sgd"}},
		},
		"pruner":     map[string]any{"type": "median", "startup_trials": 2, "warmup_steps": 0},
		"workload":   map[string]any{"type": "mnist-mlp", "options": map[string]any{"train_samples": 1000, "test_samples": 500, "epochs": 3}},
		"max_trials": 4,
	})
	// Enqueued trials go out in order, and one runner runs them one at a
	// time: two sound configurations set the median, then plain SGD with
	// a learning rate of 1e-6, which learns nothing in an epoch.
	good1 := e.Enqueue("mnist-prune", map[string]any{"learning_rate": 0.003, "optimizer": "adam"})
	good2 := e.Enqueue("mnist-prune", map[string]any{"learning_rate": 0.001, "optimizer": "adam"})
	bad := e.Enqueue("mnist-prune", map[string]any{"learning_rate": 1e-6, "optimizer": "sgd"})
	wild := e.Enqueue("mnist-prune", map[string]any{"learning_rate": 10, "optimizer": "sgd"})
	startMNISTRunner(e)
	e.Wait(3*time.Minute, "the study to finish", func() bool { return e.Study("mnist-prune").State == "done" })
	for _, g := range []int64{good1.Id, good2.Id} {
		if tr := e.Trial(g); tr.State != "complete" || len(tr.IntermediateValues) != 3 {
			t.Errorf("good trial %d: %s with %d intermediate values (%q)", tr.Number, tr.State, len(tr.IntermediateValues), tr.Error)
		}
	}
	tr := e.Trial(bad.Id)
	if tr.State != "pruned" || len(tr.IntermediateValues) != 1 || tr.Value == nil || *tr.Value != tr.IntermediateValues[0].Value {
		t.Errorf("bad trial: %s with intermediate values %+v, value %v; want pruned after its first epoch", tr.State, tr.IntermediateValues, tr.Value)
	}
	// A learning rate of 10 diverges (failed) or crawls (pruned); either
	// way it stops after its first epoch at most.
	if tr := e.Trial(wild.Id); (tr.State != "pruned" && tr.State != "failed") || len(tr.IntermediateValues) > 1 {
		t.Errorf("learning_rate 10: %s with %d intermediate values (%q)", tr.State, len(tr.IntermediateValues), tr.Error)
	}
}

// TestMNISTFailureKinds provokes each way an mnist-mlp trial fails on
// purpose, through a runner and the service, in studies that optimize
// val_accuracy and seconds_to_accuracy together.
func TestMNISTFailureKinds(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	tap.RewriteGrants(func(s map[string]any) {
		delete(s, "objective")
		s["objectives"] = []any{
			map[string]any{"metric": "val_accuracy", "direction": "maximize"},
			map[string]any{"metric": "seconds_to_accuracy", "direction": "minimize"},
		}
	})
	create := func(name string, options map[string]any) {
		opts := map[string]any{"train_samples": 1000, "test_samples": 500, "epochs": 2}
		for k, v := range options {
			opts[k] = v
		}
		e.CreateStudy(map[string]any{
			"name":      name,
			"objective": map[string]any{"metric": "val_accuracy", "direction": "maximize"},
			"search_space": map[string]any{
				"learning_rate": map[string]any{"type": "float", "low": 1e-4, "high": 1e7, "log": true},
				"optimizer":     map[string]any{"type": "categorical", "choices": []string{"adam", "sgd"}},
			},
			"workload":   map[string]any{"type": "mnist-mlp", "options": opts},
			"max_trials": 2,
		})
	}
	create("reachable", map[string]any{"target_accuracy": 0.5})
	create("unreachable", map[string]any{"target_accuracy": 1.0})
	create("small-memory", map[string]any{"target_accuracy": 0.5, "max_memory_bytes": 1000})
	good := e.Enqueue("reachable", map[string]any{"learning_rate": 0.003, "optimizer": "adam"})
	wild := e.Enqueue("reachable", map[string]any{"learning_rate": 1e6, "optimizer": "sgd"})
	missed := e.Enqueue("unreachable", map[string]any{"learning_rate": 0.003, "optimizer": "adam"})
	oom := e.Enqueue("small-memory", map[string]any{"learning_rate": 0.003, "optimizer": "adam"})
	startMNISTRunner(e)
	for _, id := range []int64{good.Id, wild.Id, missed.Id, oom.Id} {
		e.WaitTrial(id, 3*time.Minute, runnertest.Finished)
	}

	tr := e.Trial(good.Id)
	sec, ok := tr.Metrics["seconds_to_accuracy"]
	if tr.State != "complete" || !ok || sec <= 0 || sec > tr.Metrics["wall_seconds"] {
		t.Errorf("reachable target: %s %q, seconds_to_accuracy %v (present %v), wall_seconds %v", tr.State, tr.Error, sec, ok, tr.Metrics["wall_seconds"])
	}
	for _, c := range []struct {
		id             int64
		kind, errorHas string
	}{
		{wild.Id, "diverged", "training diverged: loss is"},
		{missed.Id, "timeout", "did not reach target_accuracy 1 in 2 epochs"},
		{oom.Id, "oom", "over max_memory_bytes 1000"},
	} {
		tr := e.Trial(c.id)
		if kind := tap.FailureKind(e, c.id); tr.State != "failed" || kind != c.kind || !strings.Contains(tr.Error, c.errorHas) {
			t.Errorf("trial %d: %s, failure_kind %q, error %q; want failed, %s, %q", c.id, tr.State, kind, tr.Error, c.kind, c.errorHas)
		}
	}
}
