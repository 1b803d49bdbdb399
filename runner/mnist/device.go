package mnist

import (
	"fmt"
	"strings"

	"github.com/tune-dev/tune/runner/mnist/gpu"
)

// gpuConfig is cfg for runner/mnist/gpu, which does not import this
// package. The solver knob does not apply there: the GPU's update kernel
// is the fused solver's rule.
func gpuConfig(cfg Config) gpu.Config {
	return gpu.Config{
		BatchSize: cfg.BatchSize, LearningRate: cfg.LearningRate, Activation: cfg.Activation,
		Precision: cfg.Precision, Workers: cfg.Workers, HiddenUnits: cfg.HiddenUnits, Layers: cfg.Layers,
		Optimizer: cfg.Optimizer, Epochs: cfg.Epochs, Momentum: cfg.Momentum, WeightDecay: cfg.WeightDecay,
		Seed: cfg.Seed,
	}
}

// gpuData is d for runner/mnist/gpu, sharing its memory.
func gpuData(d *Data) *gpu.Data {
	split := func(s *Dataset) gpu.Dataset {
		return gpu.Dataset{N: s.N, Features: s.Features(), Pixels: s.Pixels, Labels: s.Labels}
	}
	return &gpu.Data{Train: split(d.Train), Test: split(d.Test), Classes: d.Classes}
}

// gpuRefusal says which knobs the GPU trainer does not implement yet, when
// a trial sets them away from their defaults: a trial on a GPU must train
// as asked or not at all, never quietly without a knob.
func gpuRefusal(cfg Config) error {
	d := DefaultConfig()
	var set []string
	for _, k := range []struct {
		name string
		on   bool
	}{
		{"grad_accumulation", cfg.GradAccumulation != d.GradAccumulation},
		{"lr_schedule", cfg.LRSchedule != d.LRSchedule},
		{"warmup_epochs", cfg.WarmupEpochs != d.WarmupEpochs},
		{"grad_clip", cfg.GradClip != d.GradClip},
		{"dropout", cfg.Dropout != d.Dropout},
		{"eval_every", cfg.EvalEvery != d.EvalEvery},
		{"max_memory_bytes", cfg.MaxMemoryBytes != d.MaxMemoryBytes},
		{"target_accuracy", cfg.TargetAccuracy != d.TargetAccuracy},
	} {
		if k.on {
			set = append(set, k.name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("mnist-mlp on a GPU does not implement %s yet; run the trial on the CPU or leave them at their defaults", strings.Join(set, ", "))
}
