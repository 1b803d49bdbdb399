// Package knobs declares what the mnist-mlp workload understands: its trial
// params and study options, with types, ranges, defaults and docs. It is
// the one table: runner/mnist parses every trial's configuration through
// it, the service validates studies against it, and `tune workloads` lists
// it. It lives apart from runner/mnist so that the service and the CLI can
// read it without linking gorgonia.
package knobs

import "github.com/tune-dev/tune/trials"

// The values the MLP's categorical knobs take.
var (
	Activations = []string{"relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus"}
	Optimizers  = []string{"adam", "sgd", "momentum", "rmsprop"}
	// Precisions are gorgonia's dtypes: it computes in float32 or float64
	// only.
	Precisions = []string{"float32", "float64"}
	// Solvers say whose code runs the optimizer's update rule: the fused
	// loop (default) or gorgonia's solvers (the same rule either way).
	Solvers = []string{"fused", "gorgonia"}
	// Schedules are the learning-rate schedules (see lr_schedule).
	Schedules = []string{"constant", "cosine", "step"}
)

// Spec is the mnist-mlp workload's declaration.
var Spec = trials.WorkloadSpec{
	Type: trials.WorkloadMNISTMLP,
	Doc:  "the built-in gorgonia MLP trained on MNIST (or any IDX dataset); options apply to every trial, params win over options",
	// Option files written by hand may quote numbers.
	NumericText: true,
	Params:      params,
	Options:     append(append([]trials.Knob{}, params...), options...),
}

var params = []trials.Knob{
	{Name: "batch_size", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(128), Doc: "examples per optimizer step"},
	{Name: "learning_rate", Type: trials.KnobFloat, Min: trials.AtLeast(0), Default: 0.001, Doc: "optimizer step size"},
	{Name: "activation", Type: trials.KnobString, Choices: Activations, Default: "relu", Doc: "hidden-layer activation"},
	{Name: "precision", Type: trials.KnobString, Choices: Precisions, Default: "float32", Doc: "gorgonia dtype for weights and math"},
	{Name: "workers", Type: trials.KnobInt, Min: trials.AtLeast(1), NotAbove: "batch_size", Default: int64(1), Doc: "data-parallel gradient workers per step; at most batch_size, each needs one example"},
	{Name: "hidden_units", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(128), Doc: "units per hidden layer"},
	{Name: "layers", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(1), Doc: "hidden layers"},
	{Name: "optimizer", Type: trials.KnobString, Choices: Optimizers, Default: "adam", Doc: "update rule"},
	{Name: "epochs", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(3), Doc: "passes over the training set"},
	{Name: "momentum", Type: trials.KnobFloat, Min: trials.AtLeast(0), Max: trials.Below(1), Default: 0.9, Doc: "momentum of the momentum optimizer, decay rate (rho) of rmsprop; others ignore it"},
	{Name: "weight_decay", Type: trials.KnobFloat, Min: trials.AtLeast(0), Default: 0.0, Doc: "L2 penalty on the weight matrices (not the biases)"},
	{Name: "grad_accumulation", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(1), Doc: "batches per optimizer step, gradients averaged: the effective batch is batch_size × grad_accumulation"},
	{Name: "lr_schedule", Type: trials.KnobString, Choices: Schedules, Default: "constant", Doc: "learning rate over the optimizer steps after warmup: constant, cosine (down to 0 at the end), or step (×0.1 at half and at three quarters of training)"},
	{Name: "warmup_epochs", Type: trials.KnobFloat, Min: trials.AtLeast(0), Default: 0.0, Doc: "epochs over which the learning rate rises linearly to learning_rate before the schedule starts"},
	{Name: "grad_clip", Type: trials.KnobFloat, Min: trials.AtLeast(0), Default: 0.0, Doc: "largest global L2 norm of the gradient; larger ones are scaled down to it (0: no clipping)"},
	{Name: "dropout", Type: trials.KnobFloat, Min: trials.AtLeast(0), Max: trials.Below(1), Default: 0.0, Doc: "probability of dropping each hidden unit in training (inverted scaling; evaluation drops none)"},
	{Name: "eval_every", Type: trials.KnobInt, Min: trials.AtLeast(1), Default: int64(1), Doc: "epochs between evaluations (the last epoch always evaluates); reports are sent after evaluated epochs only"},
}

var options = []trials.Knob{
	{Name: "data_dir", Type: trials.KnobString, Doc: "directory of the four standard IDX files (default: the runner's --mnist-dir, $TUNE_MNIST_DIR, or the bundled MNIST)"},
	{Name: "train_images", Type: trials.KnobString, Doc: "IDX file of training images, overriding data_dir's"},
	{Name: "train_labels", Type: trials.KnobString, Doc: "IDX file of training labels, overriding data_dir's"},
	{Name: "test_images", Type: trials.KnobString, Doc: "IDX file of test images, overriding data_dir's"},
	{Name: "test_labels", Type: trials.KnobString, Doc: "IDX file of test labels, overriding data_dir's"},
	{Name: "train_samples", Type: trials.KnobInt, Min: trials.AtLeast(0), Default: int64(0), Doc: "keep the first N training examples (0: all)"},
	{Name: "test_samples", Type: trials.KnobInt, Min: trials.AtLeast(0), Default: int64(0), Doc: "keep the first N test examples (0: all)"},
	{Name: "seed", Type: trials.KnobInt, Default: int64(0), Doc: "added to the trial number to seed initialisation and shuffling: trials are deterministic and differ"},
	{Name: "solver", Type: trials.KnobString, Choices: Solvers, Default: "fused", Doc: "whose code runs the update rule: fused or gorgonia's solvers (the same rule)"},
	{Name: "max_memory_bytes", Type: trials.KnobInt, Min: trials.AtLeast(1), Doc: "the trial's memory limit: past it (Go heap growth since the trial's model was built, checked every 8 steps and each epoch) the trial fails as oom"},
	{Name: "target_accuracy", Type: trials.KnobFloat, Min: trials.Above(0), Max: trials.AtMost(1), Doc: "val_accuracy to reach: seconds_to_accuracy is the wall time from the first step until an epoch's evaluation first reaches it (absent when none does; the trial fails as timeout then if the study optimizes or constrains seconds_to_accuracy)"},
}
