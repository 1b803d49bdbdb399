// Package workload is the contract between the runner, which leases trials
// and talks to the service, and the workloads that run them: the built-in
// gorgonia MLP on MNIST and exec, which runs any command.
package workload

import (
	"context"
	"errors"

	"github.com/tune-dev/tune/trials"
)

// ErrPruned is returned by Run when the Reporter said to stop.
var ErrPruned = errors.New("pruned")

// Trial is what a workload is given to run one trial.
type Trial struct {
	ID     int64
	Number int
	Study  string
	// Params are the trial's params decoded once through the study's
	// search space (trials.SearchSpace.Decode): int params as int64, floats
	// as float64, categorical choices as declared.
	Params trials.Params
	// Options are the study's workload options, kept as the study gave
	// them; params win over options.
	Options map[string]any
	// Objective is the study's objective, the first of a multi-objective
	// study's; Objectives lists them all in the study's order (one for a
	// single-objective study). A complete Result must hold every
	// objective's metric.
	Objective  trials.Objective
	Objectives []trials.Objective
	// Constraints are the study's bounds on metrics; a complete Result
	// must hold each constrained metric too.
	Constraints []trials.Constraint
	// Device is "cpu" or "cuda:N".
	Device string
}

// Reporter takes intermediate results. Report sends the metrics of one
// step (an epoch for the MLP) and answers whether the trial should stop;
// the (first) objective metric among them is the step's value. An
// objective that is NaN or infinite ends the trial: Report returns a
// Failure of kind diverged, which Run should return.
// profile, when not nil, is where the step's time and memory went (see
// trials.Profile); a workload that does not measure it passes nil.
type Reporter interface {
	Report(ctx context.Context, step int, metrics map[string]float64, profile *trials.Profile) (prune bool, err error)
}

// Result is a finished trial's final metrics; the (first) objective
// metric among them is the trial's value.
type Result struct {
	Metrics map[string]float64
}

// Workload runs trials of one type. Run returns ErrPruned (possibly
// wrapped) when pruned, a Result when the trial completed, and any other
// error when it failed; its text becomes the trial's error, and a Failure
// within it says the failure's kind (error when none does). Run must
// return promptly when ctx is cancelled.
type Workload interface {
	Type() string
	Run(ctx context.Context, t Trial, r Reporter) (Result, error)
}
