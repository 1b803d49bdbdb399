//go:build !cuda

package runner

import "github.com/tune-dev/tune/openapi"

// CUDA reports whether this binary was built with -tags cuda and so can
// run trials on GPUs.
const CUDA = false

// GPUDevices lists no GPUs: without -tags cuda the runner cannot use them.
func GPUDevices() []openapi.Device { return nil }
