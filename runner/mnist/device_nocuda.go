//go:build !tune_cuda

package mnist

import (
	"context"
	"fmt"

	"github.com/tune-dev/tune/runner/workload"
)

// GPU says whether this binary trains mnist-mlp on CUDA devices: only a
// build with -tags tune_cuda does (runner/mnist/gpu).
const GPU = false

// runOnDevice refuses: saying so beats training on the CPU under a GPU's
// name.
func (w *Workload) runOnDevice(_ context.Context, t workload.Trial, _ workload.Reporter) (workload.Result, error) {
	return workload.Result{}, fmt.Errorf("mnist-mlp trains on the CPU only in a build without -tags tune_cuda, so it cannot run on %s", t.Device)
}
