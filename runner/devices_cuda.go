//go:build tune_cuda

package runner

import (
	"fmt"
	"sync"

	"gorgonia.org/cu"

	"github.com/tune-dev/tune/openapi"
)

// CUDA reports whether this binary was built with -tags tune_cuda and so
// can run trials on GPUs. The tag is tune's own, not gorgonia's `cuda`:
// that one also switches gorgonia to its CUDA engine, which needs cuDNN,
// while GPU discovery and exec trials on GPUs need only libcuda.
const CUDA = true

// GPUDevices lists the CUDA GPUs through the driver API. Importing cu
// initializes the driver (cu's init exits the process when that fails, so
// a CUDA build needs the NVIDIA driver even to run on CPU). The list is
// read once: GPUs do not come and go while a runner lives.
var GPUDevices = sync.OnceValue(func() []openapi.Device {
	n, err := cu.NumDevices()
	if err != nil {
		return nil
	}
	devices := make([]openapi.Device, 0, n)
	for i := range n {
		dev, err := cu.GetDevice(i)
		if err != nil {
			continue
		}
		d := openapi.Device{Kind: "cuda", Index: ptr(i)}
		if name, err := dev.Name(); err == nil {
			d.Name = &name
		}
		if mem, err := dev.TotalMem(); err == nil {
			d.MemoryBytes = &mem
		}
		if major, minor, err := dev.ComputeCapability(); err == nil {
			d.ComputeCapability = ptr(fmt.Sprintf("%d.%d", major, minor))
		}
		devices = append(devices, d)
	}
	return devices
})
