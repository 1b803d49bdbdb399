package workload

import (
	"errors"

	"github.com/tune-dev/tune/trials"
)

// Failure is an error that says why a trial failed: a workload returns one
// (possibly wrapped) when it knows, and the runner tells Kind with the
// trial. oom, diverged and timeout say something about the configuration
// and steer the sampler away from it (trials.FailureKind.Infeasible), so a
// workload should say so only when the configuration is to blame.
type Failure struct {
	Kind trials.FailureKind
	Err  error
}

// Fail wraps err with kind.
func Fail(kind trials.FailureKind, err error) error {
	return &Failure{Kind: kind, Err: err}
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// KindOf is the kind err carries, the outermost Failure's; "" when none.
func KindOf(err error) trials.FailureKind {
	if f, ok := errors.AsType[*Failure](err); ok {
		return f.Kind
	}
	return ""
}
