package runner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// goalsOf is what a grant's study optimizes, in its order: its objectives
// when it has several, else its one objective. A study with neither (a
// service this runner does not understand) gives none, and its trials
// fail saying so.
func goalsOf(s openapi.Study) []trials.Objective {
	var api []openapi.Objective
	switch {
	case s.Objectives != nil && len(*s.Objectives) > 0:
		api = *s.Objectives
	case s.Objective != nil:
		api = []openapi.Objective{*s.Objective}
	}
	out := make([]trials.Objective, len(api))
	for i, o := range api {
		out[i].Metric = o.Metric
		if o.Direction != nil {
			out[i].Direction = trials.Direction(*o.Direction)
		}
	}
	return out
}

func constraintsOf(s openapi.Study) []trials.Constraint {
	if s.Constraints == nil {
		return nil
	}
	out := make([]trials.Constraint, len(*s.Constraints))
	for i, c := range *s.Constraints {
		out[i] = trials.Constraint{Metric: c.Metric, Min: c.Min, Max: c.Max}
	}
	return out
}

var errNoObjective = errors.New("the study names no objective metric: this runner is older than the service, or the study is malformed")

// judge reads a workload's final metrics against the study: the service
// refuses a complete tell that lacks an objective or constrained metric,
// so such a result fails the trial here with the names missing; a
// non-finite objective means the run diverged. It returns the first
// objective's value, or the failure's kind and text.
func (t *trialRun) judge(metrics map[string]float64) (value float64, kind trials.FailureKind, failure string) {
	if len(t.goals) == 0 {
		return 0, trials.FailureError, errNoObjective.Error()
	}
	var missing []string
	seen := map[string]bool{}
	need := func(m string) {
		if _, ok := metrics[m]; !ok && !seen[m] {
			missing = append(missing, m)
		}
		seen[m] = true
	}
	for _, g := range t.goals {
		need(g.Metric)
	}
	for _, c := range t.constraints {
		need(c.Metric)
	}
	if len(missing) > 0 {
		what := "objective metric"
		if len(t.goals) > 1 || len(t.constraints) > 0 {
			what = "objective and constraint metrics"
		}
		return 0, trials.FailureError, fmt.Sprintf("workload result lacks the %s %s (it has %s)", what, strings.Join(missing, ", "), metricNames(metrics))
	}
	for _, g := range t.goals {
		if v := metrics[g.Metric]; !finite(v) {
			return 0, trials.FailureDiverged, fmt.Sprintf("objective metric %s is %v: the run diverged", g.Metric, v)
		}
	}
	return metrics[t.goals[0].Metric], "", ""
}

// failureKind is the kind told for a workload's error: the one it carries,
// else error.
func failureKind(err error) trials.FailureKind {
	if k := workload.KindOf(err); k.Valid() {
		return k
	}
	return trials.FailureError
}
