package mnist

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/runner/mnist/knobs"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// recorder is a Reporter that keeps what it was told and can ask to
// prune or cancel after an epoch.
type recorder struct {
	mu         sync.Mutex
	steps      []int
	metrics    []map[string]float64
	profiles   []*trials.Profile
	pruneAfter int            // answer prune at this step (0: never)
	onReport   func(step int) // called on every report
}

func (r *recorder) Report(_ context.Context, step int, m map[string]float64, p *trials.Profile) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, step)
	r.metrics = append(r.metrics, m)
	r.profiles = append(r.profiles, p)
	if r.onReport != nil {
		r.onReport(step)
	}
	return r.pruneAfter > 0 && step >= r.pruneAfter, nil
}

var testWorkload = New(Options{})

// small are options for quick trials on real MNIST.
func small(extra map[string]any) map[string]any {
	o := map[string]any{"train_samples": 384, "test_samples": 200, "epochs": 3, "hidden_units": 32, "batch_size": 32}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func run(t *testing.T, options, params map[string]any) (workload.Result, *recorder, error) {
	t.Helper()
	r := &recorder{}
	res, err := testWorkload.Run(context.Background(), workload.Trial{Number: 3, Options: options, Params: params}, r)
	return res, r, err
}

func TestType(t *testing.T) {
	if got := testWorkload.Type(); got != "mnist-mlp" {
		t.Errorf("Type() = %q", got)
	}
	t.Logf("BLAS: %s", BLAS())
}

// TestLossFalls trains a few hundred examples with every activation,
// optimizer and precision and checks that the loss falls and accuracy
// beats chance.
func TestLossFalls(t *testing.T) {
	type tc struct {
		name   string
		params map[string]any
	}
	var cases []tc
	for _, a := range knobs.Activations {
		cases = append(cases, tc{"activation=" + a, map[string]any{"activation": a}})
	}
	lrs := map[string]float64{"adam": 0.003, "sgd": 0.1, "momentum": 0.02, "rmsprop": 0.002}
	for _, o := range knobs.Optimizers {
		cases = append(cases, tc{"optimizer=" + o, map[string]any{"optimizer": o, "learning_rate": lrs[o]}})
	}
	for _, p := range knobs.Precisions {
		cases = append(cases, tc{"precision=" + p, map[string]any{"precision": p}})
	}
	cases = append(cases,
		tc{"layers=2,weight_decay", map[string]any{"layers": int64(2), "weight_decay": 1e-4}},
		tc{"workers=4", map[string]any{"workers": int64(4)}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, r, err := run(t, small(map[string]any{"learning_rate": 0.003}), c.params)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.steps) != 3 || r.steps[0] != 1 || r.steps[2] != 3 {
				t.Fatalf("reported steps %v, want 1 2 3", r.steps)
			}
			first, last := r.metrics[0], r.metrics[2]
			if !(last["train_loss"] < first["train_loss"]) || !(last["val_loss"] < first["val_loss"]) {
				t.Errorf("loss did not fall: train %.4f → %.4f, val %.4f → %.4f",
					first["train_loss"], last["train_loss"], first["val_loss"], last["val_loss"])
			}
			if acc := res.Metrics["val_accuracy"]; acc < 0.3 {
				t.Errorf("val_accuracy %.3f after 3 epochs", acc)
			}
			checkMetrics(t, res.Metrics)
		})
	}
}

func checkMetrics(t *testing.T, m map[string]float64) {
	t.Helper()
	for _, k := range []string{"val_accuracy", "val_loss", "train_loss", "samples_per_second", "seconds_per_epoch",
		"wall_seconds", "peak_memory_bytes", "peak_heap_bytes", "epochs", "parameters"} {
		v, ok := m[k]
		if !ok {
			t.Errorf("metric %s missing", k)
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Errorf("metric %s = %v", k, v)
		}
	}
	if m["samples_per_second"] <= 0 || m["peak_memory_bytes"] < 1<<20 || m["val_accuracy"] > 1 {
		t.Errorf("implausible metrics %v", m)
	}
}

func TestWorkersLearn(t *testing.T) {
	for _, w := range []int64{1, 4} {
		res, _, err := run(t, small(map[string]any{"train_samples": 1024, "batch_size": 64, "learning_rate": 0.003}), map[string]any{"workers": w})
		if err != nil {
			t.Fatal(err)
		}
		if acc := res.Metrics["val_accuracy"]; acc < 0.75 {
			t.Errorf("workers=%d: val_accuracy %.3f", w, acc)
		}
	}
}

// TestWorkersEquivalence: one optimizer step with the batch split over
// workers equals one step on the whole batch, since the workers'
// gradients are averaged, weighted by their share.
func TestWorkersEquivalence(t *testing.T) {
	cfg0, err := ConfigFor(small(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		precision, optimizer string
		batch, workers       int
		tol                  float64
	}{
		{"float64", "sgd", 64, 2, 1e-12},
		{"float64", "sgd", 63, 4, 1e-12}, // uneven shares: 16+16+16+15
		{"float64", "adam", 64, 2, 1e-9},
		{"float32", "sgd", 64, 2, 1e-6},
		{"float32", "momentum", 50, 3, 1e-6},
	} {
		params := func(workers, steps int) []float64 {
			cfg := cfg0
			cfg.Precision, cfg.Optimizer, cfg.BatchSize, cfg.Workers = c.precision, c.optimizer, c.batch, workers
			cfg.LearningRate = 0.1
			tr, err := newTrainer(cfg, data, 7)
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int, c.batch)
			for i := range idx {
				idx[i] = 3 * i
			}
			for range steps { // two steps: the second starts from updated weights in every replica
				if _, err := tr.step(idx); err != nil {
					t.Fatal(err)
				}
			}
			var out []float64
			for _, r := range tr.replicas { // every replica holds the same weights
				for _, v := range r.values() {
					switch d := v.Data().(type) {
					case []float32:
						for _, x := range d {
							out = append(out, float64(x))
						}
					case []float64:
						out = append(out, d...)
					}
				}
			}
			return out
		}
		one, many := params(1, 2), params(c.workers, 2)
		n := len(one)
		if len(many) != c.workers*n {
			t.Fatalf("%d values with %d workers, want %d", len(many), c.workers, c.workers*n)
		}
		var worst float64
		for r := range c.workers {
			for i := range n {
				worst = max(worst, math.Abs(one[i]-many[r*n+i]))
			}
		}
		if worst > c.tol {
			t.Errorf("%+v: parameters differ by up to %g", c, worst)
		}
		// and the steps did something
		moved := 0.0
		for i, v := range params(1, 0) {
			moved = max(moved, math.Abs(v-one[i]))
		}
		if moved < 1e-4 {
			t.Errorf("%+v: two steps moved the parameters by %g at most", c, moved)
		}
	}
}

func TestDivergence(t *testing.T) {
	_, _, err := run(t, small(nil), map[string]any{"optimizer": "sgd", "learning_rate": 1e6, "activation": "relu"})
	if err == nil || !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "training diverged: loss is") ||
		!strings.Contains(err.Error(), "learning_rate=1e+06") {
		t.Fatalf("want a divergence error, got %v", err)
	}
	t.Log(err)
}

func TestPrune(t *testing.T) {
	r := &recorder{pruneAfter: 1}
	_, err := testWorkload.Run(context.Background(), workload.Trial{Number: 1, Options: small(nil)}, r)
	if !errors.Is(err, workload.ErrPruned) {
		t.Fatalf("got %v, want ErrPruned", err)
	}
	if len(r.steps) != 1 {
		t.Errorf("%d reports, want 1", len(r.steps))
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{onReport: func(int) { cancel() }}
	start := time.Now()
	_, err := testWorkload.Run(ctx, workload.Trial{Number: 1, Options: small(map[string]any{"epochs": 50})}, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if len(r.steps) != 1 {
		t.Errorf("%d reports after cancelling at the first", len(r.steps))
	}
	t.Logf("returned %v after start", time.Since(start))

	// already cancelled: nothing runs
	if _, err := testWorkload.Run(ctx, workload.Trial{Options: small(nil)}, &recorder{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestParamsWinOverOptions(t *testing.T) {
	res, r, err := run(t, small(map[string]any{"hidden_units": 16, "epochs": 1, "activation": "tanh"}),
		map[string]any{"hidden_units": int64(8)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Metrics["parameters"], float64(784*8+8+8*10+10); got != want {
		t.Errorf("parameters = %v, want %v (hidden_units from the param)", got, want)
	}
	if res.Metrics["epochs"] != 1 || len(r.steps) != 1 {
		t.Errorf("epochs = %v, %d reports: want the option's 1", res.Metrics["epochs"], len(r.steps))
	}
}

func TestConfig(t *testing.T) {
	c, err := ConfigFor(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() || c.Epochs != 3 || c.HiddenUnits != 128 || c.BatchSize != 128 || c.LearningRate != 0.001 ||
		c.Optimizer != "adam" || c.Activation != "relu" || c.Precision != "float32" || c.Workers != 1 || c.Layers != 1 {
		t.Errorf("defaults: %+v", c)
	}
	if c.GradAccumulation != 1 || c.LRSchedule != "constant" || c.WarmupEpochs != 0 || c.GradClip != 0 || c.Dropout != 0 || c.EvalEvery != 1 {
		t.Errorf("the new knobs' defaults change training: %+v", c)
	}
	c, err = ConfigFor(
		map[string]any{"grad_accumulation": "4", "lr_schedule": "cosine", "warmup_epochs": 0.5},
		map[string]any{"grad_clip": 1.0, "dropout": 0.2, "eval_every": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if c.GradAccumulation != 4 || c.LRSchedule != "cosine" || c.WarmupEpochs != 0.5 || c.GradClip != 1 || c.Dropout != 0.2 || c.EvalEvery != 2 {
		t.Errorf("the new knobs: %+v", c)
	}
	c, err = ConfigFor(
		map[string]any{"batch_size": 64.0, "learning_rate": "0.01", "optimizer": "sgd", "data_dir": "/d", "seed": 5},
		map[string]any{"batch_size": int64(32), "precision": "float64", "momentum": 0.5, "weight_decay": 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 32 || c.LearningRate != 0.01 || c.Optimizer != "sgd" || c.Precision != "float64" ||
		c.Momentum != 0.5 || c.WeightDecay != 1e-4 || c.DataDir != "/d" || c.Seed != 5 {
		t.Errorf("merged: %+v", c)
	}
	for _, bad := range []struct {
		options, params map[string]any
		want            string
	}{
		{nil, map[string]any{"activation": "swish"}, `unknown activation "swish"`},
		{nil, map[string]any{"optimizer": "adagrad"}, `unknown optimizer "adagrad"`},
		{nil, map[string]any{"precision": "float16"}, `unknown precision "float16"`},
		{nil, map[string]any{"activation": 3}, "want a string"},
		{nil, map[string]any{"label_smoothing": 0.1}, `unknown param "label_smoothing"`},
		{nil, map[string]any{"dropout": 1.0}, "dropout must be in [0, 1)"},
		{nil, map[string]any{"grad_accumulation": int64(0)}, "grad_accumulation must be at least 1"},
		{nil, map[string]any{"lr_schedule": "linear"}, `unknown lr_schedule "linear"`},
		{nil, map[string]any{"eval_every": int64(0)}, "eval_every must be at least 1"},
		{nil, map[string]any{"grad_clip": -1.0}, "grad_clip must not be negative"},
		{nil, map[string]any{"warmup_epochs": -0.5}, "warmup_epochs must not be negative"},
		{nil, map[string]any{"data_dir": "/x"}, `unknown param "data_dir"`},
		{map[string]any{"epoch": 3}, nil, `unknown option "epoch"`},
		{nil, map[string]any{"batch_size": 1.5}, "want an integer"},
		{nil, map[string]any{"batch_size": int64(0)}, "batch_size must be at least 1"},
		{nil, map[string]any{"workers": int64(8), "batch_size": int64(4)}, "must not exceed batch_size"},
		{nil, map[string]any{"learning_rate": -1.0}, "learning_rate must not be negative"},
		{nil, map[string]any{"momentum": 1.0}, "momentum must be in [0, 1)"},
		{nil, map[string]any{"weight_decay": "lots"}, "want a number"},
		{map[string]any{"solver": "magic"}, nil, `unknown solver "magic"`},
	} {
		if _, err := ConfigFor(bad.options, bad.params); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v %v: got %v, want %q", bad.options, bad.params, err, bad.want)
		}
	}
	// Run reports them as errors, not panics.
	if _, _, err := run(t, small(nil), map[string]any{"activation": "swish"}); err == nil || !strings.Contains(err.Error(), "swish") {
		t.Errorf("Run with a bad activation: %v", err)
	}
}

func TestDataResolution(t *testing.T) {
	train, test := synthetic(64, 28, 10, 11), synthetic(20, 28, 10, 12)
	dir := t.TempDir()
	writeDataset(t, dir, train, test, false)

	// option data_dir
	w := New(Options{})
	cfg, _ := ConfigFor(map[string]any{"data_dir": dir}, nil)
	if d, err := w.Data(cfg); err != nil || d.Train.N != 64 || d.Test.N != 20 {
		t.Errorf("data_dir option: %v %v", d, err)
	}
	// Options.DataDir, with subsets
	w = New(Options{DataDir: dir})
	cfg, _ = ConfigFor(map[string]any{"train_samples": 10, "test_samples": 5}, nil)
	if d, err := w.Data(cfg); err != nil || d.Train.N != 10 || d.Test.N != 5 {
		t.Errorf("Options.DataDir: %v %v", d, err)
	}
	// the environment
	t.Setenv(EnvDataDir, dir)
	cfg, _ = ConfigFor(nil, nil)
	if d, err := New(Options{}).Data(cfg); err != nil || d.Train.N != 64 {
		t.Errorf("%s: %v %v", EnvDataDir, d, err)
	}
	// explicit paths win, one at a time
	other := t.TempDir()
	writeDataset(t, other, synthetic(30, 28, 10, 13), synthetic(7, 28, 10, 14), true)
	f, err := FilesIn(other)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = ConfigFor(map[string]any{"test_images": f.TestImages, "test_labels": f.TestLabels}, nil)
	if d, err := New(Options{}).Data(cfg); err != nil || d.Train.N != 64 || d.Test.N != 7 {
		t.Errorf("explicit test paths: %v %v", d, err)
	}
	// a directory without the files
	cfg, _ = ConfigFor(map[string]any{"data_dir": t.TempDir()}, nil)
	if _, err := New(Options{}).Data(cfg); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("empty data_dir: %v", err)
	}
	// a whole trial on an IDX dataset that is not MNIST
	res, _, err := run(t, map[string]any{"data_dir": other, "epochs": 1, "batch_size": 8, "hidden_units": 4}, nil)
	if err != nil || res.Metrics["val_accuracy"] < 0 {
		t.Errorf("trial on another dataset: %v %v", res, err)
	}
}

func TestNoDataError(t *testing.T) {
	if !strings.Contains(errNoData.Error(), "data_dir") || !strings.Contains(errNoData.Error(), EnvDataDir) {
		t.Errorf("the no-data error should say how to provide data: %v", errNoData)
	}
	t.Setenv("PATH", "")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	if _, err := moduleDataDir(); !errors.Is(err, errNoData) {
		t.Errorf("moduleDataDir with no module cache: %v", err)
	}
}

// TestDeterministic: a trial's result depends only on its number (and
// the seed option).
func TestDeterministic(t *testing.T) {
	opts := small(map[string]any{"epochs": 1})
	a, _, err := run(t, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := run(t, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Metrics["val_loss"] != b.Metrics["val_loss"] || a.Metrics["train_loss"] != b.Metrics["train_loss"] {
		t.Errorf("same trial, different results: %v vs %v", a.Metrics["val_loss"], b.Metrics["val_loss"])
	}
	opts["seed"] = 1
	c, _, err := run(t, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics["val_loss"] == a.Metrics["val_loss"] {
		t.Error("another seed gave the same result")
	}
}

// TestFullMNISTAccuracy trains the reference configuration on all of
// MNIST. It takes about a minute; set TUNE_LONG_TESTS=1 to run it.
func TestFullMNISTAccuracy(t *testing.T) {
	if os.Getenv("TUNE_LONG_TESTS") != "1" {
		t.Skip("set TUNE_LONG_TESTS=1 to train on the full MNIST set")
	}
	r := &recorder{}
	start := time.Now()
	res, err := testWorkload.Run(context.Background(), workload.Trial{
		Number: 0,
		Params: map[string]any{
			"learning_rate": 0.001, "batch_size": int64(128), "activation": "relu", "precision": "float32",
			"optimizer": "adam", "hidden_units": int64(256), "epochs": int64(3),
		},
	}, r)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range r.metrics {
		t.Logf("epoch %d: val_accuracy %.4f val_loss %.4f train_loss %.4f %.0f samples/s %.1f s",
			r.steps[i], m["val_accuracy"], m["val_loss"], m["train_loss"], m["samples_per_second"], m["seconds_per_epoch"])
	}
	t.Logf("BLAS %s; %v in all; metrics %v", BLAS(), time.Since(start), res.Metrics)
	if acc := res.Metrics["val_accuracy"]; acc < 0.97 {
		t.Errorf("val_accuracy %.4f after 3 epochs, want ≥ 0.97", acc)
	}
}

// TestRefusesGPUDevices: without a CUDA path the workload must not train on
// the CPU while its trial says it ran on a GPU.
func TestRefusesGPUDevices(t *testing.T) {
	_, err := testWorkload.Run(context.Background(), workload.Trial{Device: "cuda:0", Params: map[string]any{}}, &recorder{})
	if err == nil || !strings.Contains(err.Error(), "CPU only") {
		t.Fatalf("Run on cuda:0 = %v, want a CPU-only error", err)
	}
}
