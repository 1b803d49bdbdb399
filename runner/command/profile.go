package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/tune-dev/tune/trials"
)

// A TUNE_REPORT line may carry a "profile" object, where the step's time
// and memory went, in trials.Profile's shape:
//
//	{"wall_seconds": 12.5,
//	 "phases": {"data": 1.5, "forward": 4, "backward": 5.5, "optimizer": 1},
//	 "heap_peak_bytes": 0, "rss_peak_bytes": 123456789,
//	 "device_bytes": 0, "device_peak_bytes": 0,
//	 "matmul_flops": 0, "matmul_seconds": 0, "peak_flops": 0}
//
// Every field is optional; wall_seconds defaults to the sum of the
// phases. Limits, so that a command's profile is as safe to store and
// show as the built-in workload's:
const (
	maxProfilePhases   = 32
	maxPhaseNameLength = 64
)

// errBadProfile marks a report line refused for its profile: the line is
// skipped with a warning and the command goes on, where any other
// malformed line stops it (a profile is a side dish; a bad one must not
// cost the trial).
var errBadProfile = errors.New("bad profile")

// parseProfile reads and checks a TUNE_REPORT line's profile object.
func parseProfile(v any) (*trials.Profile, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`%w: "profile" must be a JSON object, got %s`, errBadProfile, clip(jsonText(v), 100))
	}
	p := &trials.Profile{}
	wallGiven := false
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		val := obj[k]
		if k == "phases" {
			phases, err := parsePhases(val)
			if err != nil {
				return nil, err
			}
			p.Phases = phases
			continue
		}
		f, err := profileNumber(k, val)
		if err != nil {
			return nil, err
		}
		switch k {
		case "wall_seconds":
			p.WallSeconds, wallGiven = f, true
		case "matmul_flops":
			p.MatmulFLOPs = f
		case "matmul_seconds":
			p.MatmulSeconds = f
		case "peak_flops":
			p.PeakFLOPS = f
		case "heap_peak_bytes", "rss_peak_bytes", "device_bytes", "device_peak_bytes":
			if f != math.Trunc(f) || f >= math.MaxInt64 {
				return nil, fmt.Errorf("%w: profile %s must be a whole number of bytes, got %v", errBadProfile, k, f)
			}
			*map[string]*int64{
				"heap_peak_bytes": &p.HeapPeakBytes, "rss_peak_bytes": &p.RSSPeakBytes,
				"device_bytes": &p.DeviceBytes, "device_peak_bytes": &p.DevicePeakBytes,
			}[k] = int64(f)
		default:
			return nil, fmt.Errorf("%w: unknown profile field %q (known: wall_seconds, phases, heap_peak_bytes, rss_peak_bytes, device_bytes, device_peak_bytes, matmul_flops, matmul_seconds, peak_flops)",
				errBadProfile, clip(clean(k), maxPhaseNameLength))
		}
	}
	if !wallGiven {
		for _, s := range p.Phases {
			p.WallSeconds += s
		}
	}
	return p, nil
}

func parsePhases(v any) (map[string]float64, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`%w: profile "phases" must be a JSON object of phase name to seconds, got %s`, errBadProfile, clip(jsonText(v), 100))
	}
	if len(obj) > maxProfilePhases {
		return nil, fmt.Errorf("%w: profile has %d phases; at most %d", errBadProfile, len(obj), maxProfilePhases)
	}
	out := make(map[string]float64, len(obj))
	for name, val := range obj {
		if !validPhaseName(name) {
			return nil, fmt.Errorf("%w: phase name %q: want 1 to %d characters of a-z, 0-9 and _",
				errBadProfile, clip(clean(name), maxPhaseNameLength), maxPhaseNameLength)
		}
		f, err := profileNumber("phases."+name, val)
		if err != nil {
			return nil, err
		}
		out[name] = f
	}
	return out, nil
}

// profileNumber reads a finite, non-negative number.
func profileNumber(name string, v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: profile %s must be a number, got %s", errBadProfile, name, clip(jsonText(v), 100))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%w: profile %s = %s is out of range", errBadProfile, name, n)
	}
	if f < 0 {
		return 0, fmt.Errorf("%w: profile %s = %s is negative", errBadProfile, name, n)
	}
	return f, nil
}

func validPhaseName(s string) bool {
	if s == "" || len(s) > maxPhaseNameLength {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
