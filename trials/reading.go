package trials

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The one-line reading of where a trial's time goes. The CLI and the
// dashboard both show the string the service computes here, so the rule
// lives in one place.

// ProfileTotals sums the profiles of a trial's reported steps.
type ProfileTotals struct {
	// Steps counts the steps that carried a profile.
	Steps         int
	WallSeconds   float64
	Phases        map[string]float64
	MatmulFLOPs   float64
	MatmulSeconds float64
	// PeakFLOPS is the largest peak any step named (the runner's
	// calibration for the trial's precision; the same on every step).
	PeakFLOPS float64
}

// TotalProfile sums the profiles of t's steps; Steps is 0 when none has one.
func (t *Trial) TotalProfile() ProfileTotals {
	tot := ProfileTotals{Phases: map[string]float64{}}
	for _, iv := range t.Intermediate {
		p := iv.Profile
		if p == nil {
			continue
		}
		tot.Steps++
		tot.WallSeconds += p.WallSeconds
		for name, s := range p.Phases {
			tot.Phases[name] += s
		}
		tot.MatmulFLOPs += p.MatmulFLOPs
		tot.MatmulSeconds += p.MatmulSeconds
		tot.PeakFLOPS = max(tot.PeakFLOPS, p.PeakFLOPS)
	}
	return tot
}

// Largest is the phase with the most seconds (ties: the first by name)
// and its share of the wall time; ok is false when there is none.
func (tot ProfileTotals) Largest() (phase string, share float64, ok bool) {
	if tot.WallSeconds <= 0 {
		return "", 0, false
	}
	best := -1.0
	for _, name := range slices.Sorted(maps.Keys(tot.Phases)) {
		if s := tot.Phases[name]; s > best {
			phase, best = name, s
		}
	}
	if best <= 0 {
		return "", 0, false
	}
	return phase, best / tot.WallSeconds, true
}

// phaseWords say what each of mnist-mlp's phases is, and which of a
// trial's params bear on it, in the order the reading names them.
var phaseWords = map[string]struct {
	what   string
	params []string
}{
	PhaseData:      {"data (assembling and converting batches)", []string{"batch_size", "workers"}},
	PhaseForward:   {"the forward pass", []string{"batch_size", "hidden_units", "precision"}},
	PhaseBackward:  {"the backward pass", []string{"batch_size", "hidden_units", "precision"}},
	PhaseOptimizer: {"the optimizer step", []string{"optimizer", "precision", "grad_accumulation"}},
	PhaseExchange:  {"gradient exchange between workers", []string{"workers", "batch_size"}},
	PhaseEval:      {"evaluation", []string{"eval_every"}},
	PhaseOther:     {"outside the measured phases", nil},
}

// Bottleneck is a one-line reading of where t's time goes, summed over
// the steps that carried a profile: the largest phase and its share of
// the wall time, the trial's params that bear on that phase, and, when
// the workload measured its matrix products, how close they run to the
// runner's peak and how much time lies outside them. E.g. "62% of the
// epoch is the optimizer step (optimizer adam, precision float64); matrix
// products reach 12% of peak, 80% of the time is outside them". "" when
// no step carried a profile.
func (t *Trial) Bottleneck() string {
	tot := t.TotalProfile()
	phase, share, ok := tot.Largest()
	if !ok {
		return ""
	}
	var b strings.Builder
	words, known := phaseWords[phase]
	what := words.what
	if !known {
		what = fmt.Sprintf("the %q phase", phase)
	}
	fmt.Fprintf(&b, "%s of the epoch is %s", Percent(share), what)
	var ctx []string
	for _, name := range words.params {
		if v, ok := t.Params[name]; ok {
			ctx = append(ctx, fmt.Sprintf("%s %v", name, v))
		}
	}
	if len(ctx) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(ctx, ", "))
	}
	if tot.MatmulSeconds > 0 {
		outside := Percent(max(0, 1-tot.MatmulSeconds/tot.WallSeconds))
		if tot.MatmulFLOPs > 0 && tot.PeakFLOPS > 0 {
			fmt.Fprintf(&b, "; matrix products reach %s of peak, %s of the time is outside them",
				Percent(tot.MatmulFLOPs/tot.MatmulSeconds/tot.PeakFLOPS), outside)
		} else {
			fmt.Fprintf(&b, "; %s of the time is outside matrix products", outside)
		}
	}
	return b.String()
}

// Percent renders a share as a whole percentage ("62%"), or with one
// decimal below 1% so that a small share does not read as none.
func Percent(share float64) string {
	pct := share * 100
	if pct > 0 && pct < 1 {
		return fmt.Sprintf("%.1f%%", pct)
	}
	return fmt.Sprintf("%.0f%%", pct)
}
