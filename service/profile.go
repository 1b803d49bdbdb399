package service

import (
	"maps"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// A step's profile crosses the API as openapi.Profile (every figure but
// the wall time optional) and is kept as trials.Profile (a figure not
// measured is 0). trials.Profile.Validate, run by the stores with the
// point it belongs to, is the one check.

func profileFromAPI(p *openapi.Profile) *trials.Profile {
	if p == nil {
		return nil
	}
	out := &trials.Profile{
		WallSeconds:     p.WallSeconds,
		HeapPeakBytes:   deref(p.HeapPeakBytes),
		RSSPeakBytes:    deref(p.RssPeakBytes),
		DeviceBytes:     deref(p.DeviceBytes),
		DevicePeakBytes: deref(p.DevicePeakBytes),
		MatmulFLOPs:     deref(p.MatmulFlops),
		MatmulSeconds:   deref(p.MatmulSeconds),
		PeakFLOPS:       deref(p.PeakFlops),
	}
	if p.Phases != nil && len(*p.Phases) > 0 {
		out.Phases = maps.Clone(*p.Phases)
	}
	return out
}

func profileToAPI(p *trials.Profile) *openapi.Profile {
	if p == nil {
		return nil
	}
	out := &openapi.Profile{
		WallSeconds:     p.WallSeconds,
		HeapPeakBytes:   nonZero(p.HeapPeakBytes),
		RssPeakBytes:    nonZero(p.RSSPeakBytes),
		DeviceBytes:     nonZero(p.DeviceBytes),
		DevicePeakBytes: nonZero(p.DevicePeakBytes),
		MatmulFlops:     nonZero(p.MatmulFLOPs),
		MatmulSeconds:   nonZero(p.MatmulSeconds),
		PeakFlops:       nonZero(p.PeakFLOPS),
	}
	if len(p.Phases) > 0 {
		phases := maps.Clone(p.Phases)
		out.Phases = &phases
	}
	return out
}

// bottleneckToAPI is the trial's one-line reading (trials.Trial.Bottleneck),
// absent when no step carried a profile.
func bottleneckToAPI(t *trials.Trial) *string {
	if r := t.Bottleneck(); r != "" {
		return &r
	}
	return nil
}

// nonZero is nil for a figure the workload did not measure.
func nonZero[T int64 | float64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
}
