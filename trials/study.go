package trials

import "time"

// Direction says whether the objective metric is to be minimized or maximized.
type Direction string

const (
	Minimize Direction = "minimize"
	Maximize Direction = "maximize"
)

// Better reports whether a is a better objective value than b.
func (d Direction) Better(a, b float64) bool {
	if d == Maximize {
		return a > b
	}
	return a < b
}

// Objective names the metric a study optimizes.
type Objective struct {
	Metric    string    `json:"metric"`
	Direction Direction `json:"direction"`
}

// StudyState is the life cycle of a study. Only running studies hand out new
// trials; a done study also tells its runners to stop.
type StudyState string

const (
	StudyRunning StudyState = "running"
	StudyPaused  StudyState = "paused"
	StudyDone    StudyState = "done"
)

// Sampler types.
const (
	SamplerTPE    = "tpe"
	SamplerRandom = "random"
	SamplerCMAES  = "cmaes"
	SamplerQMC    = "qmc"
	// SamplerGP is Bayesian optimization with a Gaussian process.
	SamplerGP = "gp"
	// SamplerAuto, the default, is the Gaussian process for a study's first
	// trials and the multivariate TPE beyond (tuner.gpAutoTrials).
	SamplerAuto = "auto"
)

// Sampler chooses how new trials' params are proposed. Options that do not
// apply to the chosen type are rejected by Validate.
type Sampler struct {
	Type string `json:"type"`
	// Seed makes a study reproducible when its trials run one at a time. When
	// nil the study derives one from its id, so two studies never propose the
	// same start-up points.
	Seed *int64 `json:"seed,omitempty"`
	// StartupTrials is how many trials are sampled at random before TPE,
	// CMA-ES or the Gaussian process take over (tpe, cmaes, gp, auto).
	StartupTrials *int `json:"startup_trials,omitempty"`
	// EICandidates is how many candidates TPE scores per param (tpe).
	EICandidates *int `json:"ei_candidates,omitempty"`
	// Sigma0 is CMA-ES's initial step size (cmaes).
	Sigma0 *float64 `json:"sigma0,omitempty"`
	// Multivariate models all params of a trial jointly (tpe; default
	// true; false: the independent per-param TPE with Goptuna's arithmetic).
	Multivariate *bool `json:"multivariate,omitempty"`
}

// Pruner types.
const (
	PrunerNone              = "none"
	PrunerMedian            = "median"
	PrunerSuccessiveHalving = "successive_halving"
)

// Pruner decides from intermediate values whether a running trial should stop
// early.
type Pruner struct {
	Type string `json:"type"`
	// Median pruner: trials before StartupTrials finish are never pruned, nor
	// are steps before WarmupSteps; decisions are taken every IntervalSteps.
	StartupTrials *int `json:"startup_trials,omitempty"`
	WarmupSteps   *int `json:"warmup_steps,omitempty"`
	IntervalSteps *int `json:"interval_steps,omitempty"`
	// Successive halving (ASHA) options, as in Goptuna and Optuna.
	MinResource          *int `json:"min_resource,omitempty"`
	ReductionFactor      *int `json:"reduction_factor,omitempty"`
	MinEarlyStoppingRate *int `json:"min_early_stopping_rate,omitempty"`
}

// Workload says what a runner must run for each trial. Its options are kept
// as given; the runner's workloads interpret them.
type Workload struct {
	Type    string         `json:"type"`
	Options map[string]any `json:"options,omitempty"`
}

// Study is a search: one objective over one search space, with the policy
// for proposing, pruning and leasing its trials.
type Study struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Objective is a single-objective study's metric; a multi-objective
	// study leaves it zero and lists two or more in Objectives.
	Objective  Objective   `json:"objective,omitzero"`
	Objectives []Objective `json:"objectives,omitempty"`
	// Constraints bound metrics of complete trials: a trial that breaks
	// one is infeasible (see Study.Feasible).
	Constraints []Constraint `json:"constraints,omitempty"`
	SearchSpace SearchSpace  `json:"search_space"`
	Sampler     Sampler      `json:"sampler"`
	Pruner      Pruner       `json:"pruner"`
	Workload    *Workload    `json:"workload,omitempty"`
	// MaxTrials caps how many trials the study creates; 0 means no cap.
	MaxTrials int `json:"max_trials"`
	// MaxParallel caps running trials handed to runners; 0 means no cap.
	MaxParallel int `json:"max_parallel"`
	// MaxRetries is how many times a trial whose lease expired is retried.
	MaxRetries   int        `json:"max_retries"`
	LeaseSeconds int        `json:"lease_seconds"`
	State        StudyState `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	// CreatedBy names the token that created the study (see Actor).
	CreatedBy string `json:"created_by"`
}

// DefaultLeaseSeconds is a lease's length when the study names none.
const DefaultLeaseSeconds = 60

// StudySummary is a study with what its list view shows.
type StudySummary struct {
	Study
	// Counts has one entry per trial state, zero included.
	Counts map[TrialState]int `json:"counts"`
	// BestValue and BestTrialID are nil until a trial completes.
	BestValue   *float64 `json:"best_value"`
	BestTrialID *int64   `json:"best_trial_id"`
	// RunningRunners counts the distinct runners that hold a running trial
	// of the study (plain ask/tell clients that name no runner count as
	// one).
	RunningRunners int `json:"running_runners"`
}
