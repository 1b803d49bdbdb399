package service

import (
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// The generated types are the wire format; the domain types are what the
// store and the tuner speak. These functions are the only place where the
// two meet.

func objectiveFromAPI(o openapi.Objective) trials.Objective {
	out := trials.Objective{Metric: o.Metric}
	if o.Direction != nil {
		out.Direction = trials.Direction(*o.Direction)
	}
	return out
}

func studyFromCreate(b *openapi.StudyCreate) trials.Study {
	s := trials.Study{
		Name:        b.Name,
		SearchSpace: make(trials.SearchSpace, len(b.SearchSpace)),
	}
	if b.Objective != nil {
		s.Objective = objectiveFromAPI(*b.Objective)
	}
	if b.Objectives != nil {
		for _, o := range *b.Objectives {
			s.Objectives = append(s.Objectives, objectiveFromAPI(o))
		}
	}
	if b.Constraints != nil {
		for _, c := range *b.Constraints {
			s.Constraints = append(s.Constraints, trials.Constraint{Metric: c.Metric, Min: c.Min, Max: c.Max})
		}
	}
	for name, d := range b.SearchSpace {
		s.SearchSpace[name] = distributionFromAPI(d)
	}
	if b.Sampler != nil {
		s.Sampler = trials.Sampler{
			Type:          deref(b.Sampler.Type),
			Seed:          b.Sampler.Seed,
			StartupTrials: b.Sampler.StartupTrials,
			EICandidates:  b.Sampler.EiCandidates,
			Sigma0:        b.Sampler.Sigma0,
			Multivariate:  b.Sampler.Multivariate,
		}
	}
	if b.Pruner != nil {
		s.Pruner = trials.Pruner{
			Type:                 deref(b.Pruner.Type),
			StartupTrials:        b.Pruner.StartupTrials,
			WarmupSteps:          b.Pruner.WarmupSteps,
			IntervalSteps:        b.Pruner.IntervalSteps,
			MinResource:          b.Pruner.MinResource,
			ReductionFactor:      b.Pruner.ReductionFactor,
			MinEarlyStoppingRate: b.Pruner.MinEarlyStoppingRate,
		}
	}
	if b.Workload != nil {
		s.Workload = &trials.Workload{Type: b.Workload.Type}
		if b.Workload.Options != nil {
			s.Workload.Options = *b.Workload.Options
		}
	}
	s.MaxTrials = deref(b.MaxTrials)
	s.MaxParallel = deref(b.MaxParallel)
	s.MaxRetries = deref(b.MaxRetries)
	s.LeaseSeconds = deref(b.LeaseSeconds)
	return s
}

func distributionFromAPI(d openapi.Distribution) trials.Distribution {
	out := trials.Distribution{
		Type: d.Type,
		Low:  deref(d.Low),
		High: deref(d.High),
		Step: d.Step,
		Log:  deref(d.Log),
	}
	if d.Choices != nil {
		out.Choices = *d.Choices
	}
	return out
}

func distributionToAPI(d trials.Distribution) openapi.Distribution {
	out := openapi.Distribution{Type: d.Type}
	switch d.Type {
	case trials.Categorical:
		choices := d.Choices
		out.Choices = &choices
	default:
		out.Low, out.High, out.Step = ptr(d.Low), ptr(d.High), d.Step
		if d.Log {
			out.Log = ptr(true)
		}
	}
	return out
}

// objectiveToAPI is a single-objective study's objective; nil for a
// multi-objective one, which lists its objectives instead.
func objectiveToAPI(s *trials.Study) *openapi.Objective {
	if s.MultiObjective() {
		return nil
	}
	return &openapi.Objective{Metric: s.Objective.Metric, Direction: ptr(openapi.Direction(s.Objective.Direction))}
}

// goalsToAPI is a study's objectives (multi-objective studies) and
// constraints, each nil when it has none.
func goalsToAPI(s *trials.Study) (*openapi.Objectives, *openapi.Constraints) {
	var objs *openapi.Objectives
	if s.MultiObjective() {
		o := make(openapi.Objectives, len(s.Objectives))
		for i, g := range s.Objectives {
			o[i] = openapi.Objective{Metric: g.Metric, Direction: ptr(openapi.Direction(g.Direction))}
		}
		objs = &o
	}
	var cons *openapi.Constraints
	if len(s.Constraints) > 0 {
		c := make(openapi.Constraints, len(s.Constraints))
		for i, k := range s.Constraints {
			c[i] = openapi.Constraint{Metric: k.Metric, Min: k.Min, Max: k.Max}
		}
		cons = &c
	}
	return objs, cons
}

func studyToAPI(sum *trials.StudySummary) openapi.Study {
	s := &sum.Study
	objs, cons := goalsToAPI(s)
	out := openapi.Study{
		Id:          s.ID,
		Name:        s.Name,
		Objective:   objectiveToAPI(s),
		Objectives:  objs,
		Constraints: cons,
		SearchSpace: make(openapi.SearchSpace, len(s.SearchSpace)),
		Sampler: openapi.SamplerConfig{
			Type:          ptr(s.Sampler.Type),
			Seed:          s.Sampler.Seed,
			StartupTrials: s.Sampler.StartupTrials,
			EiCandidates:  s.Sampler.EICandidates,
			Sigma0:        s.Sampler.Sigma0,
			Multivariate:  s.Sampler.Multivariate,
		},
		Pruner: openapi.PrunerConfig{
			Type:                 ptr(s.Pruner.Type),
			StartupTrials:        s.Pruner.StartupTrials,
			WarmupSteps:          s.Pruner.WarmupSteps,
			IntervalSteps:        s.Pruner.IntervalSteps,
			MinResource:          s.Pruner.MinResource,
			ReductionFactor:      s.Pruner.ReductionFactor,
			MinEarlyStoppingRate: s.Pruner.MinEarlyStoppingRate,
		},
		MaxTrials:      s.MaxTrials,
		MaxParallel:    s.MaxParallel,
		MaxRetries:     s.MaxRetries,
		LeaseSeconds:   s.LeaseSeconds,
		State:          openapi.StudyState(s.State),
		CreatedAt:      s.CreatedAt,
		CreatedBy:      s.CreatedBy,
		Counts:         countsToAPI(sum.Counts),
		BestValue:      sum.BestValue,
		BestTrialId:    sum.BestTrialID,
		RunningRunners: sum.RunningRunners,
	}
	for name, d := range s.SearchSpace {
		out.SearchSpace[name] = distributionToAPI(d)
	}
	if s.Workload != nil {
		w := &openapi.Workload{Type: s.Workload.Type}
		if s.Workload.Options != nil {
			opts := s.Workload.Options
			w.Options = &opts
		}
		out.Workload = w
	}
	return out
}

// studySummaryToAPI is a study as GET /studies lists it: its counts and
// best value, without the parts that can be large (the search space, the
// sampler's, pruner's and workload's options), so that a page of studies
// stays small however large each study is.
func studySummaryToAPI(sum *trials.StudySummary) openapi.StudySummary {
	s := &sum.Study
	objs, cons := goalsToAPI(s)
	out := openapi.StudySummary{
		Id:             s.ID,
		Name:           s.Name,
		Objective:      objectiveToAPI(s),
		Objectives:     objs,
		Constraints:    cons,
		SamplerType:    s.Sampler.Type,
		PrunerType:     s.Pruner.Type,
		ParamCount:     len(s.SearchSpace),
		MaxTrials:      s.MaxTrials,
		MaxParallel:    s.MaxParallel,
		State:          openapi.StudyState(s.State),
		CreatedAt:      s.CreatedAt,
		CreatedBy:      s.CreatedBy,
		Counts:         countsToAPI(sum.Counts),
		BestValue:      sum.BestValue,
		BestTrialId:    sum.BestTrialID,
		RunningRunners: sum.RunningRunners,
	}
	if s.Workload != nil {
		out.WorkloadType = ptr(s.Workload.Type)
	}
	return out
}

// trialToAPI is a trial of study st as the API shows it: with its failure
// kind, and, when complete, its objective values (multi-objective studies)
// and whether it keeps its study's constraints, with those it breaks.
func trialToAPI(t *trials.Trial, st *trials.Study) openapi.Trial {
	out := openapi.Trial{
		Id:                 t.ID,
		StudyId:            t.StudyID,
		Number:             t.Number,
		State:              openapi.TrialState(t.State),
		Params:             openapi.Params(t.Params),
		Value:              t.Value,
		IntermediateValues: make([]openapi.IntermediateValue, len(t.Intermediate)),
		Metrics:            openapi.Metrics(t.Metrics),
		Attempt:            t.Attempt,
		Runner:             t.Runner,
		Lease:              t.Lease,
		LeaseExpiresAt:     t.LeaseExpiresAt,
		CreatedAt:          t.CreatedAt,
		StartedAt:          t.StartedAt,
		FinishedAt:         t.FinishedAt,
		Error:              t.Error,
		Device:             t.Device,
		CreatedBy:          t.CreatedBy,
		FinishedBy:         t.FinishedBy,
		Origin:             string(t.Origin),
		Bottleneck:         bottleneckToAPI(t),
	}
	if t.FailureKind != "" {
		out.FailureKind = ptr(openapi.FailureKind(t.FailureKind))
	}
	if t.State == trials.TrialComplete {
		if v, ok := st.Values(t); ok && st.MultiObjective() {
			out.Values = &v
		}
		if len(st.Constraints) > 0 {
			broken := st.Violations(t.Metrics)
			out.Feasible = ptr(len(broken) == 0)
			if len(broken) > 0 {
				v := make([]string, len(broken))
				for i, b := range broken {
					v[i] = b.String()
				}
				out.Violations = &v
			}
		}
	}
	if out.Params == nil {
		out.Params = openapi.Params{}
	}
	if out.Metrics == nil {
		out.Metrics = openapi.Metrics{}
	}
	for i, iv := range t.Intermediate {
		out.IntermediateValues[i] = openapi.IntermediateValue{Step: iv.Step, Value: iv.Value, Profile: profileToAPI(iv.Profile)}
		if len(iv.Metrics) > 0 {
			m := openapi.Metrics(iv.Metrics)
			out.IntermediateValues[i].Metrics = &m
		}
	}
	return out
}

func runnerFromAPI(r openapi.RunnerInfo) trials.Runner {
	out := trials.Runner{ID: r.Id, Host: deref(r.Host), Workloads: r.Workloads}
	if r.Devices != nil {
		for _, d := range *r.Devices {
			out.Devices = append(out.Devices, trials.Device{
				Kind:              d.Kind,
				Index:             deref(d.Index),
				Name:              deref(d.Name),
				MemoryBytes:       deref(d.MemoryBytes),
				ComputeCapability: deref(d.ComputeCapability),
			})
		}
	}
	return out
}

func metricsFromAPI(m *openapi.Metrics) map[string]float64 {
	if m == nil {
		return nil
	}
	return map[string]float64(*m)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// finishedTrialFromAPI turns an enqueue request with a finished state into
// the trial to record; params are normalized by the caller.
func finishedTrialFromAPI(b *openapi.EnqueueRequest, params map[string]any) trials.Trial {
	t := trials.Trial{
		State:       trials.TrialState(*b.State),
		Params:      params,
		Value:       b.Value,
		Error:       deref(b.Error),
		FailureKind: trials.FailureKind(deref(b.FailureKind)),
		Runner:      deref(b.Runner),
		Device:      deref(b.Device),
		Attempt:     deref(b.Attempt),
		Origin:      trials.Origin(deref(b.Origin)),
		StartedAt:   b.StartedAt,
		FinishedAt:  b.FinishedAt,
	}
	if b.CreatedAt != nil {
		t.CreatedAt = *b.CreatedAt
	}
	if b.Metrics != nil {
		t.Metrics = *b.Metrics
	}
	if b.IntermediateValues != nil {
		for _, iv := range *b.IntermediateValues {
			p := trials.Intermediate{Step: iv.Step, Value: iv.Value, Profile: profileFromAPI(iv.Profile)}
			if iv.Metrics != nil {
				p.Metrics = *iv.Metrics
			}
			t.Intermediate = append(t.Intermediate, p)
		}
	}
	return t
}

// countsToAPI is a study's trial counts by state, as the API shows them.
func countsToAPI(c map[trials.TrialState]int) openapi.TrialCounts {
	return openapi.TrialCounts{
		Waiting:  c[trials.TrialWaiting],
		Running:  c[trials.TrialRunning],
		Complete: c[trials.TrialComplete],
		Pruned:   c[trials.TrialPruned],
		Failed:   c[trials.TrialFailed],
	}
}
