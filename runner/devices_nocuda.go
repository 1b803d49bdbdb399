//go:build !tune_cuda

package runner

import "github.com/tune-dev/tune/openapi"

// CUDA reports whether this binary was built with -tags tune_cuda and so
// can run trials on GPUs.
const CUDA = false

// GPUDevices lists no GPUs: without -tags tune_cuda the runner cannot use them.
func GPUDevices() []openapi.Device { return nil }
