// Package gpu trains runner/mnist's MLP on an NVIDIA GPU without cuDNN:
// gorgonia.org/cu (the CUDA driver API) for memory, modules and launches,
// cuBLAS (loaded with dlopen at run time, see cublas_cgo.go) for the
// matrix products, and tune's own element-wise kernels (kernels/mlp.cu,
// compiled to the committed kernels/mlp.ptx by `go generate`).
//
// The host-side orchestration (trainer.go: parameter layout and
// initialisation, shuffling, minibatches, workers, the epoch loop,
// evaluation, metrics) is written once against a small backend
// interface. The CUDA backend (cuda.go, build tag tune_cuda) runs it on a
// GPU; the reference backend (reference.go) runs every kernel's
// arithmetic in Go on the CPU, so the whole trainer is tested without a
// GPU, and the reference is tested against runner/mnist's gorgonia
// trainer.
//
// The package does not import runner/mnist (which dispatches cuda
// devices here): it takes its own Config and Data, which runner/mnist
// fills from its own.
package gpu

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Config is one trial's setting, as runner/mnist resolved it.
type Config struct {
	BatchSize    int
	LearningRate float64
	Activation   string // relu, tanh, sigmoid, leaky_relu, elu, softplus
	Precision    string // float32 or float64
	// Workers splits every minibatch into that many shares whose
	// gradients are accumulated one after the other on the one stream
	// (gradient accumulation over splits) before a single optimizer step:
	// the same arithmetic as the CPU's replicas, without their
	// concurrency, and activations sized for one share.
	Workers     int
	HiddenUnits int
	Layers      int
	Optimizer   string // adam, sgd, momentum, rmsprop
	Epochs      int
	Momentum    float64
	WeightDecay float64
	// Seed plus the trial number seeds initialisation and shuffling,
	// exactly as runner/mnist does, so both trainers start from the same
	// weights and see the same batches.
	Seed int64
}

// Dataset is one split: N examples of Features byte pixels, row-major,
// and their byte labels.
type Dataset struct {
	N, Features int
	Pixels      []byte
	Labels      []byte
}

// Data is a training and a test split and the number of classes.
type Data struct {
	Train, Test Dataset
	Classes     int
}

// Activation kinds and optimizer kinds as the kernels number them
// (ACT_* and OPT_* in kernels/mlp.cu).
var (
	activations = []string{"relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus"}
	optimizers  = []string{"sgd", "momentum", "rmsprop", "adam"}
)

// leakySlope is leaky_relu's slope below zero (LEAKY_SLOPE in mlp.cu).
const leakySlope = 0.01

// Adam's constants, as runner/mnist's solver (gorgonia's defaults).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	solverEps = 1e-8
)

// evalChunk is the most test examples evaluated per forward pass (more
// when a training share is larger: the buffers are shared).
const evalChunk = 4096

// check refuses a Config or Data the trainer cannot run.
func check(cfg Config, data *Data) error {
	switch {
	case cfg.BatchSize < 1, cfg.Workers < 1, cfg.HiddenUnits < 1, cfg.Layers < 0, cfg.Epochs < 1:
		return fmt.Errorf("gpu: batch_size, workers, hidden_units and epochs must be at least 1 and layers at least 0 (got %d, %d, %d, %d, %d)",
			cfg.BatchSize, cfg.Workers, cfg.HiddenUnits, cfg.Epochs, cfg.Layers)
	case !slices.Contains(activations, cfg.Activation):
		return fmt.Errorf("gpu: unknown activation %q", cfg.Activation)
	case !slices.Contains(optimizers, cfg.Optimizer):
		return fmt.Errorf("gpu: unknown optimizer %q", cfg.Optimizer)
	case cfg.Precision != "float32" && cfg.Precision != "float64":
		return fmt.Errorf("gpu: unknown precision %q", cfg.Precision)
	case math.IsNaN(cfg.LearningRate) || math.IsInf(cfg.LearningRate, 0):
		return errors.New("gpu: learning_rate is not finite")
	}
	for _, s := range []struct {
		name string
		d    Dataset
	}{{"training", data.Train}, {"test", data.Test}} {
		if s.d.N < 1 || s.d.Features < 1 || len(s.d.Pixels) != s.d.N*s.d.Features || len(s.d.Labels) != s.d.N {
			return fmt.Errorf("gpu: the %s set is empty or its sizes disagree", s.name)
		}
		for _, l := range s.d.Labels {
			if int(l) >= data.Classes {
				return fmt.Errorf("gpu: a %s label (%d) is not below the class count %d", s.name, l, data.Classes)
			}
		}
	}
	if data.Train.Features != data.Test.Features {
		return errors.New("gpu: training and test examples differ in size")
	}
	return nil
}

// Diverged is the error Train returns when a loss becomes NaN or
// infinite; runner/mnist turns it into its own ErrDiverged error.
type Diverged struct {
	What         string // loss or val_loss
	Value        float64
	Epoch, Step  int
	LearningRate float64
}

func (d *Diverged) Error() string {
	kind := "NaN"
	if math.IsInf(d.Value, 0) {
		kind = "infinite"
	}
	return fmt.Sprintf("training diverged: %s is %s at epoch %d step %d (learning_rate=%g)", d.What, kind, d.Epoch, d.Step, d.LearningRate)
}
