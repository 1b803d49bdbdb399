package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// writeProfile prints where each profiled step's time and memory went,
// one row per step, and the trial's bottleneck reading (computed by the
// service, trials.Trial.Bottleneck). Nothing when no step has a profile.
func writeProfile(w io.Writer, t *openapi.Trial) {
	type step struct {
		n int
		p *trials.Profile
	}
	var steps []step
	seen := map[string]bool{}
	var phases []string
	device := false
	for _, iv := range t.IntermediateValues {
		p := domainProfile(iv.Profile)
		if p == nil {
			continue
		}
		steps = append(steps, step{iv.Step, p})
		for name := range p.Phases {
			if !seen[name] {
				seen[name] = true
				phases = append(phases, name)
			}
		}
		device = device || p.DevicePeakBytes > 0
	}
	if len(steps) == 0 {
		return
	}
	slices.SortFunc(phases, comparePhases)

	fmt.Fprintln(w)
	head := []string{"STEP", "WALL S"}
	for _, name := range phases {
		head = append(head, strings.ToUpper(name)+" S")
	}
	head = append(head, "HEAP PEAK", "RSS PEAK")
	if device {
		head = append(head, "DEVICE PEAK")
	}
	head = append(head, "GFLOP/S", "OF PEAK", "OUTSIDE MATMUL")
	row(w, head...)
	for _, s := range steps {
		p := s.p
		cells := []string{fmt.Sprint(s.n), fmt.Sprintf("%.3f", p.WallSeconds)}
		for _, name := range phases {
			v, ok := p.Phases[name]
			switch {
			case !ok:
				cells = append(cells, dash)
			case p.WallSeconds > 0:
				cells = append(cells, fmt.Sprintf("%.3f %s", v, trials.Percent(v/p.WallSeconds)))
			default:
				cells = append(cells, fmt.Sprintf("%.3f", v))
			}
		}
		cells = append(cells, formatBytes(p.HeapPeakBytes), formatBytes(p.RSSPeakBytes))
		if device {
			cells = append(cells, formatBytes(p.DevicePeakBytes))
		}
		rate, peak, outside := dash, dash, dash
		if r, ok := p.AchievedFLOPS(); ok {
			rate = fmt.Sprintf("%.3g", r/1e9)
			if p.PeakFLOPS > 0 {
				peak = trials.Percent(r / p.PeakFLOPS)
			}
		}
		if o, ok := p.OutsideMatmul(); ok {
			outside = trials.Percent(o)
		}
		row(w, append(cells, rate, peak, outside)...)
	}
	if t.Bottleneck != nil {
		fmt.Fprintln(w)
		row(w, "Bottleneck:", *t.Bottleneck)
	}
}

// domainProfile reads a profile as the domain does; the API's profile is
// the domain's JSON, so a round trip converts it without a second
// field-by-field copy to keep in step.
func domainProfile(p *openapi.Profile) *trials.Profile {
	if p == nil {
		return nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var out trials.Profile
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil
	}
	return &out
}

// mnistPhases is the order the built-in workload's phases happen in; a
// workload's own phases follow, by name.
var mnistPhases = []string{trials.PhaseData, trials.PhaseForward, trials.PhaseBackward,
	trials.PhaseOptimizer, trials.PhaseExchange, trials.PhaseEval, trials.PhaseOther}

func comparePhases(a, b string) int {
	ia, ib := slices.Index(mnistPhases, a), slices.Index(mnistPhases, b)
	switch {
	case ia >= 0 && ib >= 0:
		return ia - ib
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return strings.Compare(a, b)
}

// formatBytes prints a byte count in binary units, "-" for none.
func formatBytes(n int64) string {
	if n <= 0 {
		return dash
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
