package trials

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

var studyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
var allDigits = regexp.MustCompile(`^[0-9]+$`)

// MaxLeaseSeconds bounds a lease: a runner that vanishes holds its trial at
// most this long.
const MaxLeaseSeconds = 24 * 60 * 60

// WithDefaults returns the study with every optional field filled in as
// documented: TPE, no pruner, no caps, 60 s leases, no retries, running.
func (s Study) WithDefaults() Study {
	// A multi-objective study leaves Objective zero, so that it is never
	// mistaken for a single-objective one.
	if s.Objective.Direction == "" && s.Objective.Metric != "" {
		s.Objective.Direction = Minimize
	}
	if len(s.Objectives) > 0 {
		s.Objectives = slices.Clone(s.Objectives)
		for i := range s.Objectives {
			if s.Objectives[i].Direction == "" {
				s.Objectives[i].Direction = Minimize
			}
		}
	}
	if s.Sampler.Type == "" {
		s.Sampler.Type = SamplerAuto
	}
	if s.Pruner.Type == "" {
		s.Pruner.Type = PrunerNone
	}
	if s.LeaseSeconds == 0 {
		s.LeaseSeconds = DefaultLeaseSeconds
	}
	if s.State == "" {
		s.State = StudyRunning
	}
	return s
}

// Validate checks a study as a client submitted it (after WithDefaults).
func (s Study) Validate() error {
	if !studyName.MatchString(s.Name) || allDigits.MatchString(s.Name) {
		return Invalidf("name %q must be 1-128 letters, digits, '.', '_' or '-', start with a letter or digit, and not be all digits (ids are numbers)", s.Name)
	}
	if err := s.validateGoals(); err != nil {
		return err
	}
	if err := s.SearchSpace.Validate(); err != nil {
		return err
	}
	if err := s.Sampler.validate(); err != nil {
		return err
	}
	if err := s.Pruner.validate(); err != nil {
		return err
	}
	if s.Workload != nil && s.Workload.Type == "" {
		return Invalidf("workload.type is required when a workload is given")
	}
	if s.MaxTrials < 0 {
		return Invalidf("max_trials must be >= 0 (0 means no limit)")
	}
	if s.MaxParallel < 0 {
		return Invalidf("max_parallel must be >= 0 (0 means no limit)")
	}
	if s.MaxRetries < 0 || s.MaxRetries > 100 {
		return Invalidf("max_retries must be between 0 and 100")
	}
	if s.LeaseSeconds < 1 || s.LeaseSeconds > MaxLeaseSeconds {
		return Invalidf("lease_seconds must be between 1 and %d", MaxLeaseSeconds)
	}
	return s.State.Validate()
}

// Limits on a study's objectives and constraints: enough for any question
// a person asks of a training run, few enough that reading a trial against
// them stays cheap.
const (
	MaxObjectives  = 16
	MaxConstraints = 32
)

// validateGoals checks the objective or objectives and the constraints.
func (s Study) validateGoals() error {
	switch {
	case s.Objective != (Objective{}) && len(s.Objectives) > 0:
		return Invalidf("give either objective (one metric) or objectives (two or more), not both")
	case len(s.Objectives) == 1:
		return Invalidf("objectives needs two or more metrics; use objective for a single one")
	case len(s.Objectives) > MaxObjectives:
		return Invalidf("objectives may list at most %d metrics, got %d", MaxObjectives, len(s.Objectives))
	case len(s.Objectives) == 0 && s.Objective.Metric == "":
		return Invalidf("objective or objectives is required: objective.metric names the metric to optimize (e.g. val_accuracy), objectives lists two or more")
	}
	seen := make(map[string]bool, len(s.Objectives))
	for i, o := range s.Goals() {
		name := "objective"
		if s.MultiObjective() {
			name = fmt.Sprintf("objectives[%d]", i)
		}
		switch {
		case o.Metric == "":
			return Invalidf("%s.metric is required: the name of the metric to optimize, e.g. val_accuracy", name)
		case o.Direction != Minimize && o.Direction != Maximize:
			return Invalidf("%s.direction must be minimize or maximize, got %q", name, o.Direction)
		case seen[o.Metric]:
			return Invalidf("objectives lists metric %q twice; each metric may be one objective", o.Metric)
		}
		seen[o.Metric] = true
	}
	if s.MultiObjective() && s.Sampler.Type == SamplerCMAES {
		return Invalidf("sampler cmaes optimizes a single objective; use tpe, random or qmc with objectives")
	}
	if s.Sampler.Type == SamplerGP && (s.MultiObjective() || len(s.Constraints) > 0) {
		return Invalidf("sampler gp models one objective without constraints; use auto or tpe, which model objectives and constraints")
	}
	// Several objectives are modelled jointly, by the multivariate TPE's
	// Pareto split; the independent TPE and successive halving's rungs
	// rank trials by one value.
	if s.MultiObjective() && s.Sampler.Multivariate != nil && !*s.Sampler.Multivariate {
		return Invalidf("sampler multivariate: false is single-objective; a study with objectives uses the multivariate TPE")
	}
	if s.MultiObjective() && s.Pruner.Type == PrunerSuccessiveHalving {
		return Invalidf("pruner successive_halving ranks trials by one value; use median (a trial is stopped when half the complete trials dominate it at its step) or none with objectives")
	}
	if len(s.Constraints) > MaxConstraints {
		return Invalidf("constraints may list at most %d bounds, got %d", MaxConstraints, len(s.Constraints))
	}
	for i, c := range s.Constraints {
		switch {
		case c.Metric == "":
			return Invalidf("constraints[%d].metric is required", i)
		case c.Min == nil && c.Max == nil:
			return Invalidf("constraints[%d] (%s) needs min, max or both", i, c.Metric)
		case c.Min != nil && !finite(*c.Min), c.Max != nil && !finite(*c.Max):
			return Invalidf("constraints[%d] (%s): min and max must be finite numbers", i, c.Metric)
		case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
			return Invalidf("constraints[%d] (%s): min %v is above max %v", i, c.Metric, *c.Min, *c.Max)
		}
	}
	return nil
}

// Validate refuses a study state other than running, paused or done. The
// error is KindInvalid.
func (s StudyState) Validate() error {
	switch s {
	case StudyRunning, StudyPaused, StudyDone:
		return nil
	}
	return Invalidf("state must be running, paused or done, got %q", s)
}

func (s Sampler) validate() error {
	switch s.Type {
	case SamplerAuto, SamplerTPE, SamplerGP, SamplerRandom, SamplerCMAES, SamplerQMC:
	default:
		return Invalidf("sampler.type must be auto, tpe, gp, random, cmaes or qmc, got %q", s.Type)
	}
	if s.StartupTrials != nil && (*s.StartupTrials < 0 || s.Type == SamplerRandom || s.Type == SamplerQMC) {
		return Invalidf("sampler.startup_trials must be >= 0 and applies to auto, tpe, gp and cmaes only")
	}
	if s.EICandidates != nil && (*s.EICandidates < 1 || s.Type != SamplerTPE) {
		return Invalidf("sampler.ei_candidates must be >= 1 and applies to tpe only")
	}
	if s.Multivariate != nil && s.Type != SamplerTPE {
		return Invalidf("sampler.multivariate applies to tpe only")
	}
	if s.Sigma0 != nil && (!finite(*s.Sigma0) || *s.Sigma0 <= 0 || s.Type != SamplerCMAES) {
		return Invalidf("sampler.sigma0 must be a positive number and applies to cmaes only")
	}
	return nil
}

func (p Pruner) validate() error {
	nonNeg := func(name string, v *int) error {
		if v != nil && *v < 0 {
			return Invalidf("pruner.%s must be >= 0", name)
		}
		return nil
	}
	median := p.StartupTrials != nil || p.WarmupSteps != nil || p.IntervalSteps != nil
	halving := p.MinResource != nil || p.ReductionFactor != nil || p.MinEarlyStoppingRate != nil
	switch p.Type {
	case PrunerNone:
		if median || halving {
			return Invalidf("pruner type none takes no options")
		}
	case PrunerMedian:
		if halving {
			return Invalidf("min_resource, reduction_factor and min_early_stopping_rate apply to successive_halving, not median")
		}
		for _, o := range []struct {
			n string
			v *int
		}{{"startup_trials", p.StartupTrials}, {"warmup_steps", p.WarmupSteps}} {
			if err := nonNeg(o.n, o.v); err != nil {
				return err
			}
		}
		if p.IntervalSteps != nil && *p.IntervalSteps < 1 {
			return Invalidf("pruner.interval_steps must be >= 1")
		}
	case PrunerSuccessiveHalving:
		if median {
			return Invalidf("startup_trials, warmup_steps and interval_steps apply to median, not successive_halving")
		}
		if p.MinResource != nil && *p.MinResource < 1 {
			return Invalidf("pruner.min_resource must be >= 1")
		}
		if p.ReductionFactor != nil && *p.ReductionFactor < 2 {
			return Invalidf("pruner.reduction_factor must be >= 2")
		}
		if err := nonNeg("min_early_stopping_rate", p.MinEarlyStoppingRate); err != nil {
			return err
		}
	default:
		return Invalidf("pruner.type must be none, median or successive_halving, got %q", p.Type)
	}
	return nil
}

// Normalize checks a tell for study st before it reaches the store (see
// Study.Result for what a complete one must carry) and fills in what it
// leaves implicit: a complete trial's value, a failed one's kind.
func (o Outcome) Normalize(st *Study) (Outcome, error) {
	switch o.State {
	case TrialComplete, TrialPruned, TrialFailed:
	default:
		return o, Invalidf("state must be complete, pruned or failed, got %q", o.State)
	}
	for k, v := range o.Metrics {
		if !finite(v) {
			return o, Invalidf("metric %q must be a finite number", k)
		}
	}
	var err error
	if o.FailureKind, err = FailureOf(o.State, o.FailureKind); err != nil {
		return o, err
	}
	if o.State != TrialComplete {
		if o.Value != nil && !finite(*o.Value) {
			return o, Invalidf("value must be a finite number")
		}
		return o, nil
	}
	o.Value, o.Metrics, err = st.Result(o.Value, o.Metrics)
	return o, err
}

// Result checks what a complete trial of the study reports and returns its
// value and metrics. The trial's values are read from its metrics: a
// multi-objective study needs every objective metric there, and its value
// is the first objective's (so that listings and sorting by value still
// work; Values gives them all); a single-objective study takes value, else
// its objective metric. Every constraint metric must be reported too, or
// the trial could not be judged feasible; a single-objective study's
// value counts as its objective metric there, and is added to the metrics
// a constraint reads it from. The error names what is missing.
func (st *Study) Result(value *float64, metrics map[string]float64) (*float64, map[string]float64, error) {
	if value != nil && !finite(*value) {
		return nil, metrics, Invalidf("value must be a finite number; report a diverged run as failed")
	}
	var missing []string
	if st.MultiObjective() {
		for _, g := range st.Objectives {
			if _, ok := metrics[g.Metric]; !ok {
				missing = append(missing, g.Metric)
			}
		}
		if len(missing) > 0 {
			return nil, metrics, Invalidf("a complete trial of a multi-objective study needs every objective metric in metrics; missing %s", quoteList(missing))
		}
		first := metrics[st.Objectives[0].Metric]
		if value != nil && *value != first {
			return nil, metrics, Invalidf("value %v differs from the first objective %q (%v); leave value out, it is read from metrics", *value, st.Objectives[0].Metric, first)
		}
		value = &first
	} else if value = valueOrObjective(value, metrics, st.Objective.Metric); value == nil {
		return nil, metrics, Invalidf("a complete trial needs a value (or the objective metric %q in metrics)", st.Objective.Metric)
	}
	for _, c := range st.Constraints {
		if _, ok := metrics[c.Metric]; ok || slices.Contains(missing, c.Metric) {
			continue
		}
		if !st.MultiObjective() && c.Metric == st.Objective.Metric {
			metrics = maps.Clone(metrics)
			if metrics == nil {
				metrics = map[string]float64{}
			}
			metrics[c.Metric] = *value
			continue
		}
		missing = append(missing, c.Metric)
	}
	if len(missing) > 0 {
		return nil, metrics, Invalidf("a complete trial needs every constraint metric in metrics; missing %s", quoteList(missing))
	}
	return value, metrics, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// FailureOf is the failure kind a trial finishing in state keeps: kind for
// a failed trial (FailureError when none is given), none otherwise. It
// refuses a kind on a trial that did not fail, and unknown kinds.
func FailureOf(state TrialState, kind FailureKind) (FailureKind, error) {
	switch {
	case kind == "" && state == TrialFailed:
		return FailureError, nil
	case kind == "":
		return "", nil
	case state != TrialFailed:
		return "", Invalidf("failure_kind applies to failed trials only, not %s", state)
	case !kind.Valid():
		return "", Invalidf("unknown failure_kind %q: use one of %s", kind, failureKindList())
	}
	return kind, nil
}

func failureKindList() string {
	names := make([]string, len(FailureKinds))
	for i, k := range FailureKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// valueOrObjective is a complete trial's value: the one given, else the
// objective metric's when metrics has it, else nil.
func valueOrObjective(value *float64, metrics map[string]float64, objective string) *float64 {
	if value != nil {
		return value
	}
	if v, ok := metrics[objective]; ok {
		return &v
	}
	return nil
}

// NormalizeRecord applies a tell's rules (Outcome.Normalize) to a finished
// trial recorded into the study: its value, its failure kind.
func (st *Study) NormalizeRecord(t *Trial) error {
	var err error
	if t.FailureKind, err = FailureOf(t.State, t.FailureKind); err != nil {
		return err
	}
	if t.State == TrialComplete {
		t.Value, t.Metrics, err = st.Result(t.Value, t.Metrics)
	}
	return err
}

// LeaseDuration is how long a grant of one of this study's trials lasts.
func (s Study) LeaseDuration() time.Duration {
	return time.Duration(s.LeaseSeconds) * time.Second
}

// ValidateFinished checks a finished trial given to Store.AddTrial: a
// finished state, a value when complete, finite numbers everywhere, and a
// learning curve with one point per step (steps >= 0), times in order.
// Params are checked against the search space by the caller, which
// normalizes them.
func (t *Trial) ValidateFinished() error {
	if !t.State.Finished() {
		return Invalidf("state must be complete, pruned or failed, got %q", t.State)
	}
	if t.State == TrialComplete && t.Value == nil {
		return Invalidf("a complete trial needs a value")
	}
	if t.Value != nil && !Finite(*t.Value) {
		return Invalidf("value must be a finite number")
	}
	if err := checkFailureKind(t.State, t.FailureKind); err != nil {
		return err
	}
	if t.Origin != "" && !t.Origin.Valid() {
		return Invalidf("unknown origin %q: use one of %s", t.Origin, originList)
	}
	for name, v := range t.Metrics {
		if !Finite(v) {
			return Invalidf("metric %q must be a finite number", name)
		}
	}
	seen := make(map[int]bool, len(t.Intermediate))
	for _, p := range t.Intermediate {
		switch {
		case p.Step < 0:
			return Invalidf("intermediate steps must be >= 0, got %d", p.Step)
		case seen[p.Step]:
			return Invalidf("intermediate step %d is given twice", p.Step)
		case !Finite(p.Value):
			return Invalidf("the intermediate value at step %d must be a finite number", p.Step)
		}
		seen[p.Step] = true
		for name, v := range p.Metrics {
			if !Finite(v) {
				return Invalidf("metric %q at step %d must be a finite number", name, p.Step)
			}
		}
		if p.Profile != nil {
			if err := p.Profile.Validate(); err != nil {
				return Invalidf("step %d: %s", p.Step, err.Error())
			}
		}
	}
	if t.Attempt < 0 {
		return Invalidf("attempt must be >= 0, got %d", t.Attempt)
	}
	if t.StartedAt != nil && t.FinishedAt != nil && t.FinishedAt.Before(*t.StartedAt) {
		return Invalidf("finished_at (%s) is before started_at (%s)",
			t.FinishedAt.Format(time.RFC3339), t.StartedAt.Format(time.RFC3339))
	}
	return nil
}

// Validate refuses outcomes a store cannot record (Store.Tell): an
// unfinished state, a complete outcome without its value, numbers that are
// not finite. The error is KindInvalid.
func (o Outcome) Validate() error {
	if !o.State.Finished() {
		return Invalidf("state must be complete, pruned or failed, got %q", o.State)
	}
	if o.State == TrialComplete && o.Value == nil {
		return Invalidf("a complete trial needs a value")
	}
	if o.Value != nil && !Finite(*o.Value) {
		return Invalidf("value must be a finite number; report a diverged run as failed")
	}
	if err := checkFailureKind(o.State, o.FailureKind); err != nil {
		return err
	}
	for name, v := range o.Metrics {
		if !Finite(v) {
			return Invalidf("metric %q must be a finite number", name)
		}
	}
	return nil
}

// Validate refuses a point a store cannot record (Store.Report): a negative
// step, numbers that are not finite. The error is KindInvalid.
func (p Intermediate) Validate() error {
	if p.Step < 0 {
		return Invalidf("step must be >= 0, got %d", p.Step)
	}
	if !Finite(p.Value) {
		return Invalidf("value must be a finite number; report a diverged run as failed")
	}
	for name, v := range p.Metrics {
		if !Finite(v) {
			return Invalidf("metric %q must be a finite number", name)
		}
	}
	if p.Profile != nil {
		return p.Profile.Validate()
	}
	return nil
}

// checkFailureKind refuses what a store cannot record: a kind on a trial
// that did not fail, an unknown kind. A failed trial without one is
// allowed (rows written before kinds existed have none).
func checkFailureKind(state TrialState, kind FailureKind) error {
	if kind == "" {
		return nil
	}
	_, err := FailureOf(state, kind)
	return err
}
