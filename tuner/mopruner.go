package tuner

import (
	"math"

	"github.com/tune-dev/tune/trials"
)

// dominatedShare is the share of the earlier trials reporting a step that
// must dominate a running trial there for it to be pruned.
const dominatedShare = 0.5

// pruneDominated is the median pruner for a study with several objectives,
// where "worse than the median" has no meaning: at a reported step s, a
// running trial stops when at least half of the complete trials that
// reported step s dominate its report there (no worse on every objective,
// better on one), so that a trial is stopped only when it is behind on all
// objectives at once, never for trading one against another.
//
// The objectives are read from the reports' metrics under the objectives'
// names, directions respected. A report that lacks one of them is never
// pruned by this rule, and an earlier trial whose report at s lacks one
// does not count. The median pruner's options keep their meaning:
// startup_trials complete trials before any decision (default 5), no
// decision before warmup_steps, and one decision per interval_steps.
//
// Successive halving has no multi-objective form here (validation refuses
// it for such a study); the trial is never pruned.
func pruneDominated(s *trials.Study, tr *trials.Trial, snap []*entry) bool {
	p := s.Pruner
	if p.Type != trials.PrunerMedian || len(tr.Intermediate) == 0 {
		return false
	}
	startup, warmup, interval := defaultMedianStartup, 0, 1
	if p.StartupTrials != nil {
		startup = *p.StartupTrials
	}
	if p.WarmupSteps != nil {
		warmup = *p.WarmupSteps
	}
	if p.IntervalSteps != nil {
		interval = *p.IntervalSteps
	}
	last := tr.Intermediate[0]
	reported := make(map[int]float64, len(tr.Intermediate))
	for _, iv := range tr.Intermediate {
		reported[iv.Step] = iv.Value
		if iv.Step >= last.Step {
			last = iv
		}
	}
	step := last.Step
	if step < warmup || !firstInInterval(step, reported, warmup, interval) {
		return false
	}
	j := newJudge(s)
	mine, ok := reportValues(j, last.Metrics)
	if !ok {
		return false
	}
	complete, reporters, dominated := 0, 0, 0
	for _, e := range snap {
		if e.t.State != trials.TrialComplete || e.t.ID == tr.ID {
			continue
		}
		complete++
		var at *trials.Intermediate
		for i := range e.t.Intermediate {
			if e.t.Intermediate[i].Step == step {
				at = &e.t.Intermediate[i]
			}
		}
		if at == nil {
			continue
		}
		theirs, ok := reportValues(j, at.Metrics)
		if !ok {
			continue
		}
		reporters++
		if dominates(theirs, mine) {
			dominated++
		}
	}
	if complete < startup || reporters == 0 {
		return false
	}
	return dominated > 0 && float64(dominated) >= dominatedShare*float64(reporters)
}

// reportValues reads the signed objective values of one report; ok is
// false when one is missing or not a number.
func reportValues(j *judge, metrics map[string]float64) ([]float64, bool) {
	goals := j.study.Goals()
	out := make([]float64, len(goals))
	for i, g := range goals {
		v, ok := metrics[g.Metric]
		if !ok || math.IsNaN(v) {
			return nil, false
		}
		out[i] = j.signs[i] * v
	}
	return out, true
}
