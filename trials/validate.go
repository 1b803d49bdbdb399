package trials

import (
	"regexp"
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
	if s.Objective.Direction == "" {
		s.Objective.Direction = Minimize
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
	if s.Objective.Metric == "" {
		return Invalidf("objective.metric is required: the name of the metric to optimize, e.g. val_accuracy")
	}
	if s.Objective.Direction != Minimize && s.Objective.Direction != Maximize {
		return Invalidf("objective.direction must be minimize or maximize, got %q", s.Objective.Direction)
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

// Normalize checks a tell before it reaches the store. A complete outcome
// without a value takes the objective metric's value from its metrics.
func (o Outcome) Normalize(objective string) (Outcome, error) {
	switch o.State {
	case TrialComplete:
		if o.Value = valueOrObjective(o.Value, o.Metrics, objective); o.Value == nil {
			return o, Invalidf("a complete trial needs a value (or the objective metric %q in metrics)", objective)
		}
		if !finite(*o.Value) {
			return o, Invalidf("value must be a finite number; report a diverged run as failed")
		}
	case TrialPruned, TrialFailed:
		if o.Value != nil && !finite(*o.Value) {
			return o, Invalidf("value must be a finite number")
		}
	default:
		return o, Invalidf("state must be complete, pruned or failed, got %q", o.State)
	}
	for k, v := range o.Metrics {
		if !finite(v) {
			return o, Invalidf("metric %q must be a finite number", k)
		}
	}
	return o, nil
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

// TakeObjectiveValue gives a complete trial recorded without a value its
// objective metric's, as a tell does (Outcome.Normalize).
func (t *Trial) TakeObjectiveValue(objective string) {
	if t.State == TrialComplete {
		t.Value = valueOrObjective(t.Value, t.Metrics, objective)
	}
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
	return nil
}
