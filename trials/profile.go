package trials

import (
	"maps"
	"regexp"
	"slices"
)

// Profile is where one reported step (an epoch for mnist-mlp) spent its time
// and memory, as the workload measured it. Phases split WallSeconds; what
// they leave out is the workload's "other".
type Profile struct {
	// WallSeconds is the step's wall time.
	WallSeconds float64 `json:"wall_seconds"`
	// Phases maps a phase to its seconds in the step. mnist-mlp's phases
	// are PhaseData, PhaseForward, PhaseBackward, PhaseOptimizer,
	// PhaseExchange, PhaseEval and PhaseOther; an exec workload may name
	// its own.
	Phases map[string]float64 `json:"phases,omitempty"`
	// HeapPeakBytes is the trial's own peak heap (above what the runner
	// held before the trial) up to this step; RSSPeakBytes its peak
	// resident set above the runner's baseline.
	HeapPeakBytes int64 `json:"heap_peak_bytes,omitempty"`
	RSSPeakBytes  int64 `json:"rss_peak_bytes,omitempty"`
	// DeviceBytes and DevicePeakBytes are GPU memory in use at the end of
	// the step and the trial's peak so far; 0 on a CPU.
	DeviceBytes     int64 `json:"device_bytes,omitempty"`
	DevicePeakBytes int64 `json:"device_peak_bytes,omitempty"`
	// MatmulFLOPs is the floating-point operations of the model's matrix
	// products in the step and MatmulSeconds the time spent in them, so
	// MatmulFLOPs/MatmulSeconds is the achieved rate; PeakFLOPS is the
	// runner's calibrated peak for the trial's precision.
	MatmulFLOPs   float64 `json:"matmul_flops,omitempty"`
	MatmulSeconds float64 `json:"matmul_seconds,omitempty"`
	PeakFLOPS     float64 `json:"peak_flops,omitempty"`
}

// The phases mnist-mlp reports.
const (
	PhaseData      = "data"
	PhaseForward   = "forward"
	PhaseBackward  = "backward"
	PhaseOptimizer = "optimizer"
	PhaseExchange  = "exchange"
	PhaseEval      = "eval"
	PhaseOther     = "other"
)

// The bounds a profile must keep (Profile.Validate).
const (
	// MaxPhases is the most phases one profile may name: mnist-mlp has
	// seven, and a workload's own breakdown that needs more is a trace,
	// not a profile.
	MaxPhases = 32
	// PhaseSlack is how far the phases may sum above the step's wall
	// time, as a fraction of it, and PhaseSlackSeconds the absolute
	// slack added to that. Phases are timed one after another with their
	// own clock reads, so rounding and the timers' cost can push their
	// sum a little past the wall time (the workload's target is to sum to
	// within 5% of it); more than that means phases overlap or were
	// counted twice, and every share read from them would be wrong. The
	// absolute slack covers steps so short that timer resolution
	// dominates.
	PhaseSlack        = 0.05
	PhaseSlackSeconds = 0.001
)

var phaseName = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Validate refuses a profile a store should not keep: numbers that are not
// finite or are negative, more than MaxPhases phases, a phase name that is
// not 1-64 of [a-z0-9_], and phases that add up to more than the step's
// wall time (with PhaseSlack). The error is KindInvalid.
func (p *Profile) Validate() error {
	if !Finite(p.WallSeconds) || p.WallSeconds < 0 {
		return Invalidf("profile wall_seconds must be a finite number >= 0, got %v", p.WallSeconds)
	}
	if len(p.Phases) > MaxPhases {
		return Invalidf("profile names %d phases; at most %d are allowed", len(p.Phases), MaxPhases)
	}
	sum := 0.0
	for _, name := range slices.Sorted(maps.Keys(p.Phases)) {
		v := p.Phases[name]
		if !phaseName.MatchString(name) {
			return Invalidf("profile phase name %q must be 1 to 64 lower-case letters, digits or underscores", name)
		}
		if !Finite(v) || v < 0 {
			return Invalidf("profile phase %q must be a finite number of seconds >= 0, got %v", name, v)
		}
		sum += v
	}
	if limit := p.WallSeconds*(1+PhaseSlack) + PhaseSlackSeconds; sum > limit {
		return Invalidf("profile phases add up to %.6g s, more than the step's wall_seconds %.6g s (phases must split the step's time; %.0f%% slack allowed)",
			sum, p.WallSeconds, PhaseSlack*100)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"heap_peak_bytes", p.HeapPeakBytes},
		{"rss_peak_bytes", p.RSSPeakBytes},
		{"device_bytes", p.DeviceBytes},
		{"device_peak_bytes", p.DevicePeakBytes},
	} {
		if f.v < 0 {
			return Invalidf("profile %s must be >= 0, got %d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"matmul_flops", p.MatmulFLOPs},
		{"matmul_seconds", p.MatmulSeconds},
		{"peak_flops", p.PeakFLOPS},
	} {
		if !Finite(f.v) || f.v < 0 {
			return Invalidf("profile %s must be a finite number >= 0, got %v", f.name, f.v)
		}
	}
	return nil
}

// AchievedFLOPS is the rate of the step's matrix products; ok is false
// when the workload did not measure them.
func (p *Profile) AchievedFLOPS() (rate float64, ok bool) {
	if p.MatmulFLOPs <= 0 || p.MatmulSeconds <= 0 {
		return 0, false
	}
	return p.MatmulFLOPs / p.MatmulSeconds, true
}

// OutsideMatmul is the share of the step's wall time spent outside matrix
// products (data, element-wise work, the optimizer, overhead): near 1 the
// step is bound by something other than compute.
func (p *Profile) OutsideMatmul() (share float64, ok bool) {
	if p.MatmulSeconds <= 0 || p.WallSeconds <= 0 {
		return 0, false
	}
	return max(0, 1-p.MatmulSeconds/p.WallSeconds), true
}
