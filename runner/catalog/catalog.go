// Package catalog is the registry of the built-in workloads' declarations
// (trials.WorkloadSpec): what each understands as params and options. The
// service validates studies against it and `tune workloads` lists it. Each
// declaration is owned by its workload (runner/mnist/knobs,
// runner/command/knobs); this package only gathers them, and links
// neither gorgonia nor the runner's process machinery.
package catalog

import (
	execknobs "github.com/tune-dev/tune/runner/command/knobs"
	mnistknobs "github.com/tune-dev/tune/runner/mnist/knobs"
	"github.com/tune-dev/tune/trials"
)

// Builtin returns the registry of the workloads every runner knows.
func Builtin() trials.Workloads {
	return trials.NewWorkloads(mnistknobs.Spec, execknobs.Spec)
}
