package tuner

import (
	"math"

	"github.com/tune-dev/tune/trials"
)

// verdict is what a cached trial teaches TPE.
type verdict int

const (
	// seenNothing: the trial says nothing about its params (a failure of
	// kind error or preempted, a complete trial without its values).
	seenNothing verdict = iota
	// seenComplete: a complete trial that keeps every constraint; its
	// values rank it.
	seenComplete
	// seenPruned: stopped early; ranked after every complete trial.
	seenPruned
	// seenInfeasible: a complete trial that breaks a constraint, or a
	// failure that is an observation about its configuration (out of
	// memory, diverged, timed out). TPE always puts it in the bad group,
	// as c-TPE and Optuna's constraints_func do, so the sampler spends its
	// budget where constraints hold.
	seenInfeasible
	// seenRunning: in flight; the constant liar decides where it goes.
	seenRunning
)

// judge reads trials against one study's objectives and constraints for
// the samplers. The rules themselves (which metrics, feasibility, which
// failure kinds count) are trials'; the judge only signs the values so that
// lower is better on every objective.
type judge struct {
	study *trials.Study
	signs []float64
}

func newJudge(s *trials.Study) *judge {
	goals := s.Goals()
	j := &judge{study: s, signs: make([]float64, len(goals))}
	for i, g := range goals {
		j.signs[i] = 1
		if g.Direction == trials.Maximize {
			j.signs[i] = -1
		}
	}
	return j
}

// multi reports whether the study has several objectives.
func (j *judge) multi() bool { return len(j.signs) > 1 }

// read classifies a trial. values are its signed objective values for a
// seenComplete trial; violation is how far a seenInfeasible one lies
// outside its constraints (the sum over those it breaks; +Inf for a
// failure, which has no metrics to measure it by).
func (j *judge) read(t *trials.Trial) (v verdict, values []float64, violation float64) {
	switch t.State {
	case trials.TrialComplete:
		if !j.multi() && t.Value != nil {
			// The stored value is what a single-objective study has always
			// ranked by.
			values = []float64{*t.Value}
		} else {
			var ok bool
			if values, ok = j.study.Values(t); !ok {
				return seenNothing, nil, 0
			}
		}
		if broken := j.study.Violations(t.Metrics); len(broken) > 0 {
			for _, b := range broken {
				violation += b.By
			}
			return seenInfeasible, nil, violation
		}
		for i := range values {
			values[i] *= j.signs[i]
		}
		return seenComplete, values, 0
	case trials.TrialPruned:
		return seenPruned, nil, 0
	case trials.TrialFailed:
		if t.FailureKind.Infeasible() {
			return seenInfeasible, nil, math.Inf(1)
		}
	case trials.TrialRunning, trials.TrialWaiting:
		if len(t.Params) > 0 {
			return seenRunning, nil, 0
		}
	}
	return seenNothing, nil, 0
}

// feasibility adds to each candidate's log-density ratio (acc) the log of
// how much likelier it is under the feasible trials than under the
// infeasible ones, each a Parzen estimator as TPE's own: c-TPE's
// feasibility term (Watanabe and Hutter, IJCAI 2023), with one model for
// all constraints and failures together. Placing infeasible trials in the
// bad group already counts against their region; this term also keeps
// candidates drawn from a good trial near a constraint's bound from
// crossing it. It does nothing for a study with no infeasible trial.
func (h *jointHistory) feasibility(dims []jointDim, active []int, cands [][]float64, acc []float64) {
	if h.infeasible == 0 || len(h.kinds) != len(h.rows) {
		return
	}
	var ok, bad [][]float64
	for i, k := range h.kinds {
		switch k {
		case seenComplete:
			ok = append(ok, h.rows[i])
		case seenInfeasible:
			bad = append(bad, h.rows[i])
		}
	}
	lf := newJointPE(dims, active, ok, nil, false).logPDF(cands)
	gf := newJointPE(dims, active, bad, nil, false).logPDF(cands)
	for i := range acc {
		acc[i] += lf[i] - gf[i]
	}
}
