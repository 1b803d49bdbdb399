package mnist

import "github.com/tune-dev/tune/runner/mnist/gpu"

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
