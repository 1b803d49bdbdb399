package trials

import (
	"fmt"
	"math"
)

// A study optimizes one metric (Study.Objective) or, when Study.Objectives
// holds two or more, several at once; its constraints bound any measured
// metric of a complete trial. The rules that read a trial against its
// study's objectives and constraints live here, so the service, the tuner,
// the CLI and the dashboard's API agree on them.

// Constraint bounds one metric of a complete trial: Min, Max or both.
type Constraint struct {
	Metric string   `json:"metric"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Violation is how far value lies outside the bounds (0 when inside).
func (c Constraint) Violation(value float64) float64 {
	switch {
	case c.Min != nil && value < *c.Min:
		return *c.Min - value
	case c.Max != nil && value > *c.Max:
		return value - *c.Max
	}
	return 0
}

// String renders the bound, e.g. "val_accuracy >= 0.97".
func (c Constraint) String() string {
	switch {
	case c.Min != nil && c.Max != nil:
		return fmt.Sprintf("%v <= %s <= %v", *c.Min, c.Metric, *c.Max)
	case c.Min != nil:
		return fmt.Sprintf("%s >= %v", c.Metric, *c.Min)
	case c.Max != nil:
		return fmt.Sprintf("%s <= %v", c.Metric, *c.Max)
	}
	return c.Metric
}

// MultiObjective reports whether the study optimizes several metrics.
func (s *Study) MultiObjective() bool { return len(s.Objectives) > 1 }

// Goals is the study's objectives in order: Objectives for a
// multi-objective study, else its one Objective.
func (s *Study) Goals() []Objective {
	if s.MultiObjective() {
		return s.Objectives
	}
	return []Objective{s.Objective}
}

// Values reads a trial's objective values, in Goals order, from its final
// metrics (a single-objective study's value may also be Value). ok is false
// when one is missing.
func (s *Study) Values(t *Trial) (values []float64, ok bool) {
	goals := s.Goals()
	values = make([]float64, len(goals))
	for i, g := range goals {
		v, found := t.Metrics[g.Metric]
		if !found && len(goals) == 1 && t.Value != nil {
			v, found = *t.Value, true
		}
		if !found {
			return nil, false
		}
		values[i] = v
	}
	return values, true
}

// Violations lists the constraints metrics break, with how far; a metric
// that is missing breaks its constraint by +Inf.
func (s *Study) Violations(metrics map[string]float64) []Broken {
	var out []Broken
	for _, c := range s.Constraints {
		v, found := metrics[c.Metric]
		switch {
		case !found:
			out = append(out, Broken{Constraint: c, By: math.Inf(1)})
		case c.Violation(v) > 0:
			out = append(out, Broken{Constraint: c, Value: &v, By: c.Violation(v)})
		}
	}
	return out
}

// Broken is one constraint a trial breaks.
type Broken struct {
	Constraint Constraint
	// Value is the trial's metric; nil when it has none.
	Value *float64
	// By is how far outside the bound the metric lies (+Inf when missing).
	By float64
}

// Feasible reports whether a complete trial keeps every constraint.
func (s *Study) Feasible(t *Trial) bool {
	return t.State == TrialComplete && len(s.Violations(t.Metrics)) == 0
}

// FailureKind says why a failed trial failed.
type FailureKind string

const (
	// FailureOOM: the trial ran out of memory (a workload's limit, the
	// kernel's OOM killer, CUDA's allocator).
	FailureOOM FailureKind = "oom"
	// FailureDiverged: the loss or an objective became NaN or infinite.
	FailureDiverged FailureKind = "diverged"
	// FailureTimeout: the trial ran past its time limit.
	FailureTimeout FailureKind = "timeout"
	// FailureError: anything else the workload got wrong.
	FailureError FailureKind = "error"
	// FailurePreempted: the runner stopped or the lease was lost; says
	// nothing about the configuration.
	FailurePreempted FailureKind = "preempted"
)

// FailureKinds lists every kind.
var FailureKinds = []FailureKind{FailureOOM, FailureDiverged, FailureTimeout, FailureError, FailurePreempted}

// Valid reports whether k is a known kind.
func (k FailureKind) Valid() bool {
	for _, v := range FailureKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Infeasible reports whether a failure of this kind is an observation about
// the configuration (a batch size that ran out of memory is information),
// which samplers count against its region; preempted and error are not.
func (k FailureKind) Infeasible() bool {
	return k == FailureOOM || k == FailureDiverged || k == FailureTimeout
}

// String renders a broken constraint for people, e.g.
// "val_accuracy >= 0.97 (is 0.95)" or "peak_memory_bytes <= 2e+09 (missing)".
func (b Broken) String() string {
	if b.Value == nil {
		return b.Constraint.String() + " (missing)"
	}
	return fmt.Sprintf("%s (is %v)", b.Constraint.String(), *b.Value)
}
