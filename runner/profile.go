package runner

import (
	"maps"
	"slices"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// profileToAPI converts a step's profile for the report. The service
// refuses a report with a number JSON cannot carry or a negative figure,
// and a profile is a side dish to the step's value: a figure that is not
// finite or is below zero is dropped with a warning, never the report.
func (t *trialRun) profileToAPI(step int, p *trials.Profile) *openapi.Profile {
	if p == nil {
		return nil
	}
	ok := func(name string, v float64) bool {
		if finite(v) && v >= 0 {
			return true
		}
		t.log.Warn("profile figure dropped: not a finite non-negative number", "step", step, "figure", name, "value", v)
		return false
	}
	out := &openapi.Profile{}
	if ok("wall_seconds", p.WallSeconds) {
		out.WallSeconds = p.WallSeconds
	}
	if len(p.Phases) > 0 {
		phases := make(map[string]float64, len(p.Phases))
		for _, name := range slices.Sorted(maps.Keys(p.Phases)) {
			if v := p.Phases[name]; ok("phases."+name, v) {
				phases[cleanText(name)] = v
			}
		}
		out.Phases = &phases
	}
	bytes := func(name string, v int64) *int64 {
		if v == 0 || !ok(name, float64(v)) {
			return nil
		}
		return &v
	}
	out.HeapPeakBytes = bytes("heap_peak_bytes", p.HeapPeakBytes)
	out.RssPeakBytes = bytes("rss_peak_bytes", p.RSSPeakBytes)
	out.DeviceBytes = bytes("device_bytes", p.DeviceBytes)
	out.DevicePeakBytes = bytes("device_peak_bytes", p.DevicePeakBytes)
	figure := func(name string, v float64) *float64 {
		if v == 0 || !ok(name, v) {
			return nil
		}
		return &v
	}
	out.MatmulFlops = figure("matmul_flops", p.MatmulFLOPs)
	out.MatmulSeconds = figure("matmul_seconds", p.MatmulSeconds)
	out.PeakFlops = figure("peak_flops", p.PeakFLOPS)
	return out
}
