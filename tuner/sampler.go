package tuner

import (
	"encoding/json"
	"hash/fnv"
	"math/rand"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/cmaes"
	"github.com/c-bata/goptuna/sobol"

	"github.com/tune-dev/tune/trials"
)

// Defaults of tpe.NewSampler, which the tuner's TPE keeps.
const (
	defaultStartupTrials = 10
	defaultEICandidates  = 24
)

// splitmix64 is a fast, well-mixing hash of one word.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// studySeed is the study's own seed, or one derived from its id so that
// two studies never walk the same random sequence.
func studySeed(s *trials.Study) int64 {
	if s.Sampler.Seed != nil {
		return *s.Sampler.Seed
	}
	return int64(splitmix64(uint64(s.ID) ^ 0x7475_6e65_7475_6e65))
}

// paramSeeds derives the seeds of one param's sampler for one trial.
// Goptuna's samplers seed with 0 and are rebuilt for every request here, so
// without the trial number every trial would get the same draws, and
// without the name every param would.
func paramSeeds(seed int64, number int, name string) (int64, int64) {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := splitmix64(uint64(seed) ^ splitmix64(uint64(number)^splitmix64(h.Sum64())))
	return int64(x), int64(splitmix64(x ^ 0x5049_434b)) // "PICK"
}

// randomSampler is goptuna.RandomSampler made reproducible and inclusive:
// Goptuna draws categorical params from math/rand's global source (not
// seedable since Go 1.24) and never draws the high end of an int range.
type randomSampler struct {
	inner *goptuna.RandomSampler
	mu    sync.Mutex
	rng   *rand.Rand
}

func newRandomSampler(seed int64) *randomSampler {
	return &randomSampler{
		inner: goptuna.NewRandomSampler(goptuna.RandomSamplerOptionSeed(seed)),
		rng:   rand.New(rand.NewSource(seed)),
	}
}

// Sample implements goptuna.Sampler.
func (s *randomSampler) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist any) (float64, error) {
	if d, ok := dist.(goptuna.CategoricalDistribution); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(s.rng.Intn(len(d.Choices))), nil
	}
	return s.inner.Sample(study, trial, name, inclusive(dist))
}

// samplerConfig is what of a study's sampler the stateful relative
// samplers are built from: when it changes they are built again.
func samplerConfig(s *trials.Study, sp *space) string {
	b, _ := json.Marshal(s.Sampler)
	return s.Sampler.Type + string(b) + sp.key
}

func startupTrials(s *trials.Study) int {
	if s.Sampler.StartupTrials != nil {
		return *s.Sampler.StartupTrials
	}
	return defaultStartupTrials
}

// independent returns the sampler of one param for one trial.
func independent(s *trials.Study, number int, name string) goptuna.Sampler {
	seed, pick := paramSeeds(studySeed(s), number, name)
	switch s.Sampler.Type {
	case trials.SamplerRandom, trials.SamplerQMC:
		return newRandomSampler(seed)
	}
	candidates := defaultEICandidates
	if s.Sampler.EICandidates != nil {
		candidates = *s.Sampler.EICandidates
	}
	return newTPESampler(seed, pick, startupTrials(s), candidates)
}

// relativeSpace is the space handed to a relative sampler, or nil when the
// study has none (or the relative sampler cannot handle the space).
func relativeSpace(s *trials.Study, sp *space) map[string]any {
	out := make(map[string]any, len(sp.params))
	switch s.Sampler.Type {
	case trials.SamplerTPE, trials.SamplerAuto, trials.SamplerGP:
		if !multivariate(s) {
			return nil
		}
		for _, p := range sp.params {
			out[p.name] = p.dist
		}
		return out
	case trials.SamplerQMC:
		for _, p := range sp.params {
			out[p.name] = inclusive(p.dist)
		}
		return out
	case trials.SamplerCMAES:
		numeric := 0
		for _, p := range sp.params {
			// A constant param would give CMA-ES a zero step size (it takes
			// the narrowest range's); the independent sampler returns it.
			if single, _ := goptuna.DistributionIsSingle(p.dist); single {
				continue
			}
			out[p.name] = p.dist
			if p.d.Type != trials.Categorical {
				numeric++
			}
		}
		// Goptuna's CMA-ES refuses one dimension and panics on none; the
		// independent sampler then takes every param, as Goptuna would.
		if numeric < 2 {
			return nil
		}
		return out
	}
	return nil
}

// newRelative builds the study's relative sampler. It lives as long as the
// study's cache: CMA-ES advances one generation per call and Sobol one
// point, so one rebuilt per request would never get past its start.
// number is how many trials the study has: a new Sobol sampler skips the
// points they presumably took.
func newRelative(s *trials.Study, space map[string]any, number int) goptuna.RelativeSampler {
	switch s.Sampler.Type {
	case trials.SamplerCMAES:
		opts := []cmaes.SamplerOption{cmaes.SamplerOptionSeed(studySeed(s))}
		if s.Sampler.StartupTrials != nil {
			opts = append(opts, cmaes.SamplerOptionNStartupTrials(*s.Sampler.StartupTrials))
		}
		if s.Sampler.Sigma0 != nil {
			opts = append(opts, cmaes.SamplerOptionInitialSigma(*s.Sampler.Sigma0))
		}
		return cmaes.NewSampler(opts...)
	case trials.SamplerQMC:
		q := sobol.NewSampler()
		for range number {
			// Only the search space is read while drawing.
			_, _ = q.SampleRelative(nil, goptuna.FrozenTrial{}, space)
		}
		return q
	}
	return nil
}

// multivariate reports whether a study models its params jointly: the
// GP, and TPE as jointTPE (tpe's default, and auto's beyond gpAutoTrials:
// over 12 seeds of bench/quality's eight tables it beat the independent
// TPE at W = 1 and W = 8, see bench/README.md), rather than one by one with
// Goptuna's arithmetic (tpeSampler, multivariate: false).
//
// A multi-objective study is always modelled jointly: the independent TPE
// ranks trials by one value (validation refuses multivariate: false for
// such a study; this keeps the tuner sound should one slip through).
func multivariate(s *trials.Study) bool {
	switch s.Sampler.Type {
	case trials.SamplerAuto, trials.SamplerGP:
		return true
	}
	return s.Sampler.Type == trials.SamplerTPE && (s.Sampler.Multivariate == nil || *s.Sampler.Multivariate || s.MultiObjective())
}

// newJointTPE is the study's multivariate TPE for one proposal over the
// history h (nil: the study's trials as Goptuna reads them).
func newJointTPE(s *trials.Study, h *jointHistory) *jointTPE {
	candidates := defaultEICandidates
	if s.Sampler.EICandidates != nil {
		candidates = *s.Sampler.EICandidates
	}
	return &jointTPE{seed: studySeed(s), startup: startupTrials(s), candidates: candidates, hist: h}
}

// Origins of a proposal's params (Proposal.Origin); the trial stored for
// the proposal keeps it (trials.Trial.Origin).
const (
	OriginStartup = trials.OriginStartup
	OriginTPE     = trials.OriginTPE
	OriginGP      = trials.OriginGP
	OriginCMAES   = trials.OriginCMAES
	OriginRandom  = trials.OriginRandom
	OriginQMC     = trials.OriginQMC
)

// origin names what proposes a study's next params given its history:
// TPE and the GP sample at random until startup_trials trials have
// finished; auto hands over from the GP to TPE at gpAutoTrials.
func origin(s *trials.Study, snap []*entry) trials.Origin {
	switch s.Sampler.Type {
	case trials.SamplerRandom:
		return OriginRandom
	case trials.SamplerQMC:
		return OriginQMC
	case trials.SamplerCMAES:
		return OriginCMAES
	}
	finished, infeasible := 0, false
	for _, e := range snap {
		switch {
		case e.t.State == trials.TrialComplete || e.t.State == trials.TrialPruned:
			finished++
		case e.t.State == trials.TrialFailed && e.t.FailureKind.Infeasible():
			infeasible = true
		}
	}
	if finished < startupTrials(s) {
		return OriginStartup
	}
	if s.Sampler.Type == trials.SamplerGP || (s.Sampler.Type == trials.SamplerAuto && finished < gpAutoTrials && gpModels(s, infeasible)) {
		return OriginGP
	}
	return OriginTPE
}

// gpModels reports whether the GP can model a study's history: one
// objective, no constraints, no failures that say a region is infeasible.
// The GP regresses one value; the TPE's split also takes Pareto ranks,
// broken constraints and out-of-memory or diverged trials into account, so
// auto hands over to it when a study has any of them.
func gpModels(s *trials.Study, infeasible bool) bool {
	return !s.MultiObjective() && len(s.Constraints) == 0 && !infeasible
}

// jointCovers reports whether multivariate TPE will propose every param,
// so the per-param history need not be gathered. Should it not (trials
// that lack params), the independent sampler reads the study instead.
func jointCovers(s *trials.Study, snap []*entry) bool {
	o := origin(s, snap)
	return multivariate(s) && (o == OriginTPE || o == OriginGP)
}
