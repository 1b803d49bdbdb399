package runner

import (
	"maps"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner/workload"
)

// flopsCalibrator is a workload that measures the matrix-product peak of
// the device it trains on (the CPU, for mnist-mlp) when asked, once per
// process: FLOP/s per precision. A trial's achieved rate is read against
// it, so the runner reports it with its devices.
type flopsCalibrator interface {
	PeakFLOPS() map[string]float64
}

// withPeakFLOPS adds the workloads' calibrated peaks to the CPU devices
// that do not state their own; the calibration runs here, at the runner's
// start (about 0.2 s), rather than in the first trial.
func withPeakFLOPS(devices []openapi.Device, workloads []workload.Workload) []openapi.Device {
	for _, w := range workloads {
		c, ok := w.(flopsCalibrator)
		if !ok {
			continue
		}
		peak := c.PeakFLOPS()
		for k, v := range peak {
			if !finite(v) || v <= 0 {
				delete(peak, k)
			}
		}
		if len(peak) == 0 {
			continue
		}
		for i := range devices {
			if devices[i].Kind == "cpu" && devices[i].PeakFlops == nil {
				p := maps.Clone(peak)
				devices[i].PeakFlops = &p
			}
		}
	}
	return devices
}
