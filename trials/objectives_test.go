package trials

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func moStudy() Study {
	return Study{
		Name:        "mo",
		Objectives:  []Objective{{Metric: "val_accuracy", Direction: Maximize}, {Metric: "seconds"}},
		Constraints: []Constraint{{Metric: "val_accuracy", Min: f(0.9)}, {Metric: "peak_memory_bytes", Max: f(2e9)}},
		SearchSpace: SearchSpace{"x": {Type: Float, High: 1}},
	}.WithDefaults()
}

func TestMultiObjectiveStudyValidate(t *testing.T) {
	base := moStudy()
	if err := base.Validate(); err != nil {
		t.Fatalf("valid study rejected: %v", err)
	}
	if base.Objectives[1].Direction != Minimize || base.Objective != (Objective{}) {
		t.Errorf("WithDefaults: objectives %+v, objective %+v", base.Objectives, base.Objective)
	}
	many := func(n int) []Objective {
		out := make([]Objective, n)
		for i := range out {
			out[i] = Objective{Metric: fmt.Sprint("m", i), Direction: Minimize}
		}
		return out
	}
	for name, c := range map[string]struct {
		mutate func(*Study)
		detail string
	}{
		"both":            {func(s *Study) { s.Objective = Objective{Metric: "loss", Direction: Minimize} }, "not both"},
		"neither":         {func(s *Study) { s.Objectives = nil }, "objective or objectives is required"},
		"one objective":   {func(s *Study) { s.Objectives = s.Objectives[:1] }, "two or more"},
		"too many":        {func(s *Study) { s.Objectives = many(MaxObjectives + 1) }, "at most 16"},
		"duplicate":       {func(s *Study) { s.Objectives[1].Metric = "val_accuracy" }, `"val_accuracy" twice`},
		"empty metric":    {func(s *Study) { s.Objectives[1].Metric = "" }, "objectives[1].metric is required"},
		"bad direction":   {func(s *Study) { s.Objectives[0].Direction = "up" }, "objectives[0].direction"},
		"cmaes":           {func(s *Study) { s.Sampler = Sampler{Type: SamplerCMAES} }, "cmaes optimizes a single objective"},
		"independent tpe": {func(s *Study) { no := false; s.Sampler.Multivariate = &no }, "multivariate: false is single-objective"},
		"gp":              {func(s *Study) { s.Sampler = Sampler{Type: SamplerGP} }, "sampler gp models one objective"},
		"halving":         {func(s *Study) { s.Pruner = Pruner{Type: PrunerSuccessiveHalving} }, "successive_halving ranks trials by one value"},
		"no bound":        {func(s *Study) { s.Constraints = []Constraint{{Metric: "x"}} }, "needs min, max or both"},
		"no metric":       {func(s *Study) { s.Constraints = []Constraint{{Min: f(1)}} }, "constraints[0].metric is required"},
		"min above max":   {func(s *Study) { s.Constraints = []Constraint{{Metric: "x", Min: f(2), Max: f(1)}} }, "min 2 is above max 1"},
		"infinite":        {func(s *Study) { s.Constraints = []Constraint{{Metric: "x", Max: f(inf)}} }, "finite"},
		"too many bounds": {func(s *Study) { s.Constraints = make([]Constraint, MaxConstraints+1) }, "at most 32"},
	} {
		t.Run(name, func(t *testing.T) {
			s := moStudy()
			s.Objectives = slices.Clone(s.Objectives)
			c.mutate(&s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.detail) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, c.detail)
			}
		})
	}
	// Constraints fit single-objective studies too; equal bounds are fine.
	single := Study{Name: "s", Objective: Objective{Metric: "loss"}, SearchSpace: base.SearchSpace,
		Constraints: []Constraint{{Metric: "m", Min: f(1), Max: f(1)}}}.WithDefaults()
	if err := single.Validate(); err != nil {
		t.Errorf("constrained single-objective study rejected: %v", err)
	}
}

var inf = math.Inf(1)

func TestOutcomeNormalizeMultiObjective(t *testing.T) {
	st := moStudy()
	ok := map[string]float64{"val_accuracy": 0.95, "seconds": 12, "peak_memory_bytes": 1e9}
	o, err := Outcome{State: TrialComplete, Metrics: ok}.Normalize(&st)
	if err != nil || o.Value == nil || *o.Value != 0.95 {
		t.Fatalf("got %+v, %v; want value 0.95 (the first objective)", o, err)
	}
	for name, c := range map[string]struct {
		o      Outcome
		detail string
	}{
		"objective missing":  {Outcome{State: TrialComplete, Metrics: map[string]float64{"val_accuracy": 1, "peak_memory_bytes": 1}}, `missing "seconds"`},
		"constraint missing": {Outcome{State: TrialComplete, Metrics: map[string]float64{"val_accuracy": 1, "seconds": 1}}, `missing "peak_memory_bytes"`},
		"value disagrees":    {Outcome{State: TrialComplete, Value: f(0.5), Metrics: ok}, "differs from the first objective"},
		"kind on complete":   {Outcome{State: TrialComplete, Metrics: ok, FailureKind: FailureOOM}, "failed trials only"},
		"kind on pruned":     {Outcome{State: TrialPruned, FailureKind: FailureOOM}, "failed trials only"},
		"unknown kind":       {Outcome{State: TrialFailed, FailureKind: "meteor"}, `unknown failure_kind "meteor"`},
	} {
		if _, err := c.o.Normalize(&st); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.detail) {
			t.Errorf("%s: got %v, want ErrInvalid saying %q", name, err, c.detail)
		}
	}
	o, err = Outcome{State: TrialFailed, Error: "boom"}.Normalize(&st)
	if err != nil || o.FailureKind != FailureError {
		t.Errorf("a failed tell without a kind: %+v, %v; want kind error", o, err)
	}
	o, err = Outcome{State: TrialFailed, FailureKind: FailureOOM}.Normalize(&st)
	if err != nil || o.FailureKind != FailureOOM {
		t.Errorf("oom kept? %+v, %v", o, err)
	}
	// A single-objective study's value is its objective metric for a
	// constraint on it.
	acc := Study{Objective: Objective{Metric: "acc", Direction: Maximize}, Constraints: []Constraint{{Metric: "acc", Min: f(0.9)}}}
	o, err = Outcome{State: TrialComplete, Value: f(0.95)}.Normalize(&acc)
	if err != nil || o.Metrics["acc"] != 0.95 {
		t.Errorf("value as the constrained objective metric: %+v, %v", o, err)
	}
	// A single-objective study with a constraint on another metric.
	single := Study{Objective: Objective{Metric: "loss"}, Constraints: []Constraint{{Metric: "mem", Max: f(1)}}}
	if _, err := (Outcome{State: TrialComplete, Value: f(1)}).Normalize(&single); err == nil || !strings.Contains(err.Error(), `missing "mem"`) {
		t.Errorf("constraint metric missing: got %v", err)
	}
}

func TestReapFailsPreempted(t *testing.T) {
	r := Reap([]LapsedLease{{TrialID: 1, StudyID: 1}})
	if len(r.Fail) != 1 || r.FailKind != FailurePreempted {
		t.Errorf("got %+v", r)
	}
}

func TestBrokenString(t *testing.T) {
	st := Study{Constraints: []Constraint{{Metric: "val_accuracy", Min: f(0.97)}, {Metric: "mem", Max: f(2e9)}}}
	var got []string
	for _, b := range st.Violations(map[string]float64{"val_accuracy": 0.95}) {
		got = append(got, b.String())
	}
	want := []string{"val_accuracy >= 0.97 (is 0.95)", "mem <= 2e+09 (missing)"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func complete(n int, m map[string]float64) Trial {
	return Trial{Number: n, State: TrialComplete, Metrics: m}
}

func numbers(ts []Trial) []int {
	out := []int{}
	for _, t := range ts {
		out = append(out, t.Number)
	}
	return out
}

func TestParetoFront(t *testing.T) {
	st := Study{Objectives: []Objective{{Metric: "acc", Direction: Maximize}, {Metric: "sec", Direction: Minimize}}}
	m := func(acc, sec float64) map[string]float64 { return map[string]float64{"acc": acc, "sec": sec} }
	ts := []Trial{
		complete(0, m(0.90, 10)), // dominated by 2
		complete(1, m(0.95, 30)), // front
		complete(2, m(0.92, 8)),  // front
		complete(3, m(0.92, 8)),  // tie with 2: both stay
		complete(4, m(0.80, 5)),  // front (fastest)
		complete(5, m(0.96, 30)), // dominates 1
		{Number: 6, State: TrialFailed, Metrics: m(1, 1)},
		{Number: 7, State: TrialPruned, Metrics: m(1, 1)},
	}
	if got, want := numbers(st.ParetoFront(ts)), []int{5, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("front %v, want %v", got, want)
	}
	// Constraints: infeasible trials are neither on the front nor dominate.
	st.Constraints = []Constraint{{Metric: "acc", Min: f(0.91)}}
	if got, want := numbers(st.ParetoFront(ts)), []int{5, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("constrained front %v, want %v", got, want)
	}
	// Single objective: the best feasible trial alone, earliest of equals.
	single := Study{Objective: Objective{Metric: "sec", Direction: Minimize}, Constraints: []Constraint{{Metric: "acc", Min: f(0.91)}}}
	for i := range ts {
		v := ts[i].Metrics["sec"]
		ts[i].Value = &v
	}
	if got, want := numbers(single.ParetoFront(ts)), []int{2}; !slices.Equal(got, want) {
		t.Errorf("single-objective front %v, want %v", got, want)
	}
	if got := single.ParetoFront(nil); got == nil || len(got) != 0 {
		t.Errorf("empty study: %v, want an empty list", got)
	}
}

// TestParetoFrontProperties checks the front against its definition on
// random studies: no returned trial is dominated by a complete feasible
// trial, every omitted complete feasible trial is dominated by a returned
// one, and the order is the documented one.
func TestParetoFrontProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		k := 2 + r.IntN(3)
		st := Study{Objectives: make([]Objective, k)}
		for i := range st.Objectives {
			st.Objectives[i] = Objective{Metric: fmt.Sprint("m", i), Direction: []Direction{Minimize, Maximize}[r.IntN(2)]}
		}
		if r.IntN(2) == 0 {
			st.Constraints = []Constraint{{Metric: "m0", Max: f(float64(r.IntN(6)))}}
		}
		ts := make([]Trial, r.IntN(60))
		for i := range ts {
			m := map[string]float64{}
			for j := range k {
				m[fmt.Sprint("m", j)] = float64(r.IntN(8)) // small range: many ties
			}
			ts[i] = Trial{Number: i, State: []TrialState{TrialComplete, TrialComplete, TrialFailed}[r.IntN(3)], Metrics: m}
		}
		front := st.ParetoFront(ts)
		on := map[int]bool{}
		for _, f := range front {
			on[f.Number] = true
		}
		goals := st.Goals()
		for i := range ts {
			if !st.Feasible(&ts[i]) {
				if on[ts[i].Number] {
					t.Fatalf("iter %d: infeasible trial %d on the front", iter, i)
				}
				continue
			}
			vi, _ := st.Values(&ts[i])
			dominated := false
			for j := range ts {
				if vj, _ := st.Values(&ts[j]); st.Feasible(&ts[j]) && Dominates(goals, vj, vi) {
					dominated = true
					if !on[ts[i].Number] {
						break
					}
					t.Fatalf("iter %d: trial %d on the front is dominated by %d", iter, i, j)
				}
			}
			if dominated != !on[ts[i].Number] {
				t.Fatalf("iter %d: trial %d dominated=%v but on front=%v", iter, i, dominated, on[ts[i].Number])
			}
		}
		for i := 1; i < len(front); i++ {
			a, _ := st.Values(&front[i-1])
			b, _ := st.Values(&front[i])
			if goals[0].Direction.Better(b[0], a[0]) || (a[0] == b[0] && front[i-1].Number > front[i].Number) {
				t.Fatalf("iter %d: front out of order at %d", iter, i)
			}
		}
	}
}
