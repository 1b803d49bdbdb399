package mnist

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/tune-dev/tune/runner/mnist/gpu"
	"github.com/tune-dev/tune/runner/workload"
)

// TestGPUReferenceMatchesGorgonia trains the same trials with the
// gorgonia CPU trainer and with runner/mnist/gpu's reference backend (the
// GPU trainer's orchestration and its kernels' arithmetic in Go) and
// wants the same learning curves: same initial weights and batches, same
// forward pass, gradients and optimizer rules, knob by knob. float64
// agrees to rounding; float32 within float32 tolerance.
func TestGPUReferenceMatchesGorgonia(t *testing.T) {
	cases := []map[string]any{
		{"precision": "float64", "optimizer": "adam", "activation": "relu"},
		{"precision": "float64", "optimizer": "sgd", "activation": "tanh", "learning_rate": 0.1},
		{"precision": "float64", "optimizer": "momentum", "activation": "sigmoid", "learning_rate": 0.05, "momentum": 0.8},
		{"precision": "float64", "optimizer": "rmsprop", "activation": "leaky_relu", "momentum": 0.9},
		{"precision": "float64", "optimizer": "adam", "activation": "elu", "weight_decay": 0.01, "layers": int64(2)},
		{"precision": "float64", "optimizer": "adam", "activation": "softplus", "layers": int64(1), "hidden_units": int64(16)},
		{"precision": "float64", "optimizer": "adam", "activation": "relu", "workers": int64(3), "batch_size": int64(40)},
		{"precision": "float32", "optimizer": "adam", "activation": "relu"},
		{"precision": "float32", "optimizer": "rmsprop", "activation": "tanh", "workers": int64(2)},
	}
	for _, params := range cases {
		t.Run(fmt.Sprint(params), func(t *testing.T) {
			opts := map[string]any{"train_samples": 320, "test_samples": 100, "epochs": 2, "hidden_units": 24, "batch_size": 32}
			tol := 1e-9
			if params["precision"] == "float32" {
				tol = 2e-3
			}
			cpu := &recorder{}
			trial := workload.Trial{Number: 5, Options: opts, Params: params}
			if _, err := testWorkload.Run(context.Background(), trial, cpu); err != nil {
				t.Fatal(err)
			}
			cfg, err := testWorkload.Config(trial)
			if err != nil {
				t.Fatal(err)
			}
			data, err := testWorkload.Data(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref := &recorder{}
			final, err := gpu.TrainReference(context.Background(), gpuConfig(cfg), gpuData(data), trial.Number, ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.metrics) != len(cpu.metrics) {
				t.Fatalf("reference reported %d epochs, gorgonia %d", len(ref.metrics), len(cpu.metrics))
			}
			for i := range cpu.metrics {
				for _, k := range []string{"train_loss", "val_loss", "val_accuracy"} {
					c, g := cpu.metrics[i][k], ref.metrics[i][k]
					if math.Abs(c-g) > tol*max(1, math.Abs(c)) {
						t.Errorf("epoch %d %s: gorgonia %.12g, reference %.12g", i+1, k, c, g)
					}
				}
			}
			if final["launches_per_step"] <= 0 || final["device_memory_bytes"] <= 0 {
				t.Errorf("final metrics lack launches or memory: %v", final)
			}
		})
	}
}

// TestGPUReferenceDiverges: a learning rate that blows the loss up is a
// Diverged error saying where, as on the CPU.
func TestGPUReferenceDiverges(t *testing.T) {
	trial := workload.Trial{Number: 1, Options: small(nil), Params: map[string]any{"learning_rate": 1e30, "optimizer": "sgd", "precision": "float32"}}
	cfg, err := testWorkload.Config(trial)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gpu.TrainReference(context.Background(), gpuConfig(cfg), gpuData(data), 1, &recorder{})
	d, ok := err.(*gpu.Diverged)
	if !ok || d.Epoch != 1 || d.Step < 1 {
		t.Fatalf("TrainReference = %v, want a Diverged error in epoch 1", err)
	}
}

// TestGPUConfigCoversKnobs: every field of Config is either passed to
// runner/mnist/gpu by gpuConfig or known not to matter there, so a new
// knob cannot be silently ignored by trials on a GPU: map it in gpuConfig
// (and the GPU trainer) or refuse it in runOnDevice, then list it here.
func TestGPUConfigCoversKnobs(t *testing.T) {
	passed := map[string]bool{
		"BatchSize": true, "LearningRate": true, "Activation": true, "Precision": true, "Workers": true,
		"HiddenUnits": true, "Layers": true, "Optimizer": true, "Epochs": true, "Momentum": true,
		"WeightDecay": true, "Seed": true,
	}
	// Data selection is resolved before the GPU trainer sees the data;
	// the solver knob picks CPU code, and the GPU has one update kernel.
	notNeeded := map[string]bool{"DataDir": true, "Files": true, "TrainSamples": true, "TestSamples": true, "SolverImpl": true}
	// Refused on a GPU away from their defaults (gpuRefusal).
	refused := map[string]string{
		"GradAccumulation": "grad_accumulation", "LRSchedule": "lr_schedule", "WarmupEpochs": "warmup_epochs",
		"GradClip": "grad_clip", "Dropout": "dropout", "EvalEvery": "eval_every",
		"MaxMemoryBytes": "max_memory_bytes", "TargetAccuracy": "target_accuracy",
	}
	if err := gpuRefusal(DefaultConfig()); err != nil {
		t.Errorf("the default configuration is refused on a GPU: %v", err)
	}
	for field, knob := range refused {
		cfg := DefaultConfig()
		v := reflect.ValueOf(&cfg).Elem().FieldByName(field)
		switch v.Kind() {
		case reflect.String:
			v.SetString("cosine")
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 2)
		case reflect.Float64:
			v.SetFloat(v.Float() + 0.5)
		}
		if err := gpuRefusal(cfg); err == nil || !strings.Contains(err.Error(), knob) {
			t.Errorf("%s set: gpuRefusal = %v, want it to name %s", field, err, knob)
		}
	}
	typ := reflect.TypeOf(Config{})
	gtyp := reflect.TypeOf(gpu.Config{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		switch {
		case passed[name]:
			if _, ok := gtyp.FieldByName(name); !ok {
				t.Errorf("Config.%s is listed as passed, but gpu.Config has no such field", name)
			}
		case notNeeded[name], refused[name] != "":
		default:
			t.Errorf("Config.%s is not passed to runner/mnist/gpu: map it in gpuConfig, or refuse it in runOnDevice, and list it here", name)
		}
	}
	// And gpuConfig copies the values.
	cfg := DefaultConfig()
	cfg.BatchSize, cfg.Seed, cfg.WeightDecay, cfg.Momentum = 77, 5, 0.25, 0.5
	g := reflect.ValueOf(gpuConfig(cfg))
	c := reflect.ValueOf(cfg)
	for name := range passed {
		if !reflect.DeepEqual(g.FieldByName(name).Interface(), c.FieldByName(name).Interface()) {
			t.Errorf("gpuConfig: %s is %v, want %v", name, g.FieldByName(name), c.FieldByName(name))
		}
	}
}
