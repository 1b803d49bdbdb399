// Package tuner puts Goptuna (github.com/c-bata/goptuna v0.9.0) behind the
// few calls the service needs: propose params for a study's next trial,
// decide whether a reporting trial should stop, and keep each study's
// history cached so neither has to read the whole study from the database.
//
// Goptuna has no ask/tell: its samplers read a goptuna.Storage and write the
// new trial into it. The tuner gives them a read-only view over a cached
// snapshot of the study and captures what they write (params and system
// attrs), so the caller stores the trial, attrs included, in one write of
// its own, then binds the proposal's Handle to the stored trial (Bind). The
// cache loads a study once and then only the trials changed since
// (HistorySource.TrialsChangedSince).
package tuner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

// HistorySource is what the tuner needs from storage: every trial of a
// study that may have changed since an opaque cursor (0 for all), and the
// cursor for next time. No change may be missed; unchanged trials may come
// back. It is trials.Store's method of the same name.
type HistorySource interface {
	TrialsChangedSince(ctx context.Context, studyID int64, cursor int64) ([]trials.Trial, int64, error)
}

// Tuner proposes and prunes trials. It is safe for concurrent use; calls for
// different studies never wait on each other, and calls for the same study
// only while one of them reads the database.
type Tuner struct {
	src          HistorySource
	refreshEvery time.Duration
	pendingTTL   time.Duration
	now          func() time.Time

	mu      sync.Mutex
	studies map[int64]*studyState
}

// Option configures a Tuner.
type Option func(*Tuner)

// WithRefreshInterval lets a study's cache serve calls for up to d after its
// last read of the history, instead of reading what changed on every call.
// Writes this Tuner is told of through Observe are seen at once either way;
// only writes made elsewhere (another replica, a runner's tell handled by
// another process) can then be up to d late.
func WithRefreshInterval(d time.Duration) Option {
	return func(t *Tuner) { t.refreshEvery = d }
}

// defaultPendingTTL is how long a proposal that was neither bound nor
// released still counts as running: a caller that died between Suggest and
// Bind leaves one behind.
const defaultPendingTTL = 2 * time.Minute

// New returns a Tuner that reads history from src.
func New(src HistorySource, opts ...Option) *Tuner {
	t := &Tuner{
		src:        src,
		pendingTTL: defaultPendingTTL,
		now:        time.Now,
		studies:    make(map[int64]*studyState),
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func (t *Tuner) state(id int64) *studyState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.studies[id]
	if !ok {
		st = newStudyState(id)
		t.studies[id] = st
	}
	return st
}

// Forget drops a deleted study's cache.
func (t *Tuner) Forget(studyID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.studies, studyID)
}

// Observe puts a trial the caller just wrote into the cache at once, so the
// next call sees it without waiting for a refresh. Pass the trial as the
// store returned it: a version older than the cached one (by UpdatedAt) is
// ignored. A study not yet cached is loaded whole on its first use instead.
func (t *Tuner) Observe(tr *trials.Trial) {
	t.mu.Lock()
	st, ok := t.studies[tr.StudyID]
	t.mu.Unlock()
	if !ok {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.loaded {
		st.upsert(tr)
	}
}

func direction(s *trials.Study) goptuna.StudyDirection {
	if s.Objective.Direction == trials.Maximize {
		return goptuna.StudyDirectionMaximize
	}
	return goptuna.StudyDirectionMinimize
}

// Suggest proposes params for the study's next trial: int64 for int params,
// float64 for float params (on the step grid when there is one), the
// declared choice for categorical params. Proposals are deterministic for a
// seeded study whose trials run one at a time (each observed before the
// next Suggest); concurrent proposals for one study differ from each other.
//
// The proposal counts as a running trial of the study until the caller
// binds its Handle to the trial it stored (Bind) or releases it (Release),
// or for two minutes. System attrs Goptuna writes while sampling (CMA-ES's
// generation) are returned for the caller to store with the trial, so that a
// restarted service resumes CMA-ES where it was; this Tuner also attaches
// them to the trial it is bound to.
func (t *Tuner) Suggest(ctx context.Context, s *trials.Study) (Proposal, error) {
	sp, err := newSpace(s.SearchSpace)
	if err != nil {
		return Proposal{}, fmt.Errorf("tuner: study %d: %w", s.ID, err)
	}
	st := t.state(s.ID)
	if err := t.refresh(ctx, st, sp); err != nil {
		return Proposal{}, err
	}
	r := st.reserve(t.now(), t.pendingTTL)
	internal, attrs, err := t.propose(s, sp, st, r)
	if err != nil {
		st.settle(r.p, nil, nil)
		return Proposal{}, fmt.Errorf("tuner: suggest for study %d: %w", s.ID, err)
	}
	params := make(map[string]any, len(sp.params))
	back := make([]float64, len(sp.params))
	for i, p := range sp.params {
		params[p.name] = p.toExternal(internal[p.name])
		back[i], _ = p.toInternal(params[p.name])
	}
	st.settle(r.p, back, attrs)
	return Proposal{Params: params, SystemAttrs: maps.Clone(attrs), Handle: Handle{st: st, p: r.p}, Origin: origin(s, r.snap.entries)}, nil
}

// Proposal is what Suggest proposes for a new trial.
type Proposal struct {
	// Params holds int64 for int params, float64 for float params and the
	// declared choice for categorical params.
	Params map[string]any
	// SystemAttrs is sampler bookkeeping to store with the trial, in the
	// write that creates it; nil for most samplers.
	SystemAttrs map[string]string
	// Origin names what proposed the params: OriginStartup (TPE's random
	// start-up trials), OriginTPE, OriginCMAES, OriginRandom or OriginQMC.
	Origin trials.Origin
	// Handle names this proposal: give it to Bind with the trial stored for
	// it, or to Release when none was.
	Handle Handle
}

// Handle identifies one proposal of Suggest. Two proposals are told apart
// by their handles, never by their params, which may be equal. The zero
// Handle names no proposal.
type Handle struct {
	st *studyState
	p  *pending
}

// Bind tells the Tuner that the proposal h was stored as trial tr (as the
// store returned it): the proposal stops counting as in flight, the trial
// takes its place in the cache, with the system attrs sampled for it.
func (t *Tuner) Bind(h Handle, tr *trials.Trial) {
	if h.p == nil {
		t.Observe(tr)
		return
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.st.bind(h.p, tr)
}

// Release gives up proposal h, whose trial was not stored (the write was
// refused or failed), so that it stops counting as a running trial at once.
func (t *Tuner) Release(h Handle) {
	if h.p == nil {
		return
	}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.st.drop(h.p)
}

// propose runs Goptuna's samplers for one new trial and returns the
// internal values and system attrs they wrote.
func (t *Tuner) propose(s *trials.Study, sp *space, st *studyState, r reservation) (map[string]float64, map[string]string, error) {
	dir := direction(s)
	cp := &capture{internal: map[string]float64{}, attrs: map[string]string{}}
	v := &view{
		studyID:   int(s.ID),
		name:      s.Name,
		direction: dir,
		snap:      r.snap,
		cap:       cp,
	}
	if s.Sampler.Type != trials.SamplerRandom && s.Sampler.Type != trials.SamplerQMC && !jointCovers(s, r.snap.entries) {
		// TPE samples the params (CMA-ES's categorical ones): their history
		// is gathered once here rather than once per param.
		v.obs = newObservations(sp, r.snap.entries, r.inflight, newJudge(s))
	}
	id, err := v.CreateNewTrial(v.studyID)
	if err != nil {
		return nil, nil, err
	}
	cp.target.Number = r.number

	base := goptuna.Trial{ID: id}
	if rs := relativeSpace(s, sp); rs != nil {
		if err := t.sampleRelative(s, sp, st, r, v, rs, &base); err != nil {
			return nil, nil, err
		}
	}

	// Each param has its own seeded sampler, so they can be drawn in
	// parallel and still give what a sequential run in name order gives.
	// TPE reads the whole history per param: large studies are worth it.
	samplers := make(byParam, len(sp.params))
	for _, p := range sp.params {
		samplers[p.name] = independent(s, r.number, p.name)
	}
	study, err := goptuna.LoadStudy(s.Name,
		goptuna.StudyOptionStorage(v),
		goptuna.StudyOptionSampler(samplers),
		goptuna.StudyOptionLogger(nil))
	if err != nil {
		return nil, nil, err
	}
	errs := make([]error, len(sp.params))
	one := func(i int) {
		tr := base
		tr.Study = study
		errs[i] = suggestParam(&tr, sp.params[i], s.Sampler.Type)
	}
	workers := min(runtime.GOMAXPROCS(0), len(sp.params))
	if len(r.snap.entries) < parallelFrom || workers < 2 {
		for i := range sp.params {
			one(i)
		}
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Go(func() {
				for i := range next {
					one(i)
				}
			})
		}
		for i := range sp.params {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, p := range sp.params {
		if _, ok := cp.internal[p.name]; !ok {
			return nil, nil, fmt.Errorf("goptuna proposed no value for %q", p.name)
		}
	}
	var attrs map[string]string
	if len(cp.attrs) > 0 {
		attrs = cp.attrs
	}
	return cp.internal, attrs, nil
}

// byParam hands each param to its own sampler, so that one goptuna.Study
// (read-only while params are suggested) serves all of them at once.
type byParam map[string]goptuna.Sampler

// Sample implements goptuna.Sampler.
func (b byParam) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist any) (float64, error) {
	s, ok := b[name]
	if !ok {
		return 0, fmt.Errorf("no sampler for param %q", name)
	}
	return s.Sample(study, trial, name, dist)
}

// parallelFrom is the history size from which params are sampled in
// parallel; below it a goroutine costs more than it saves.
const parallelFrom = 200

// sampleRelative runs the study's multivariate TPE, CMA-ES or Sobol sampler
// over the whole space, as Goptuna does before the first param is suggested.
func (t *Tuner) sampleRelative(s *trials.Study, sp *space, st *studyState, r reservation, v *view, rs map[string]any, base *goptuna.Trial) error {
	if origin(s, r.snap.entries) == OriginGP {
		return t.sampleGP(s, sp, st, r, v, rs, base)
	}
	if multivariate(s) {
		// Multivariate TPE keeps no state between proposals.
		rel := newJointTPE(s, newJointHistory(sp, r.snap.entries, r.inflight, newJudge(s)))
		return callRelative(s.Name, v, rel, rs, base)
	}
	st.relMu.Lock()
	defer st.relMu.Unlock()
	key := samplerConfig(s, sp)
	if st.rel == nil || st.relKey != key {
		st.rel, st.relKey = newRelative(s, rs, r.number), key
	}
	// CMA-ES minimizes the raw value whatever the study's direction.
	rv := &view{
		studyID:   v.studyID,
		name:      v.name,
		direction: v.direction,
		snap:      v.snap,
		cap:       v.cap,
		flip:      v.direction == goptuna.StudyDirectionMaximize,
	}
	return callRelative(s.Name, rv, st.rel, rs, base)
}

// callRelative runs a relative sampler over the space rs as Goptuna does
// before the first param is suggested, reading history through v.
func callRelative(name string, v goptuna.Storage, rel goptuna.RelativeSampler, rs map[string]any, base *goptuna.Trial) error {
	study, err := goptuna.LoadStudy(name,
		goptuna.StudyOptionStorage(v),
		goptuna.StudyOptionRelativeSampler(rel),
		goptuna.StudyOptionDefineSearchSpace(rs),
		goptuna.StudyOptionLogger(nil))
	if err != nil {
		return err
	}
	base.Study = study
	return base.CallRelativeSampler()
}

// suggestParam asks Goptuna's trial for one param; the value it settles on
// is captured through the view's SetTrialParam.
func suggestParam(tr *goptuna.Trial, p param, samplerType string) error {
	dist := p.dist
	if samplerType == trials.SamplerQMC {
		// The relative space Sobol was given; the distributions must match
		// for Goptuna to use its values.
		dist = inclusive(dist)
	}
	var err error
	switch d := dist.(type) {
	case goptuna.UniformDistribution:
		_, err = tr.SuggestFloat(p.name, d.Low, d.High)
	case goptuna.LogUniformDistribution:
		_, err = tr.SuggestLogFloat(p.name, d.Low, d.High)
	case goptuna.DiscreteUniformDistribution:
		_, err = tr.SuggestDiscreteFloat(p.name, d.Low, d.High, d.Q)
	case goptuna.IntUniformDistribution:
		_, err = tr.SuggestInt(p.name, d.Low, d.High)
	case goptuna.StepIntUniformDistribution:
		_, err = tr.SuggestStepInt(p.name, d.Low, d.High, d.Step)
	case goptuna.CategoricalDistribution:
		_, err = tr.SuggestCategorical(p.name, d.Choices)
	default:
		err = goptuna.ErrUnknownDistribution
	}
	if err != nil {
		return fmt.Errorf("param %q: %w", p.name, err)
	}
	return nil
}

// ShouldPrune decides, after a report, whether the trial should stop. attrs
// are system attrs for the caller to persist on the trial (successive
// halving keeps its rungs there); nil when there are none. The trial is
// taken as the newest version of itself, as Observe would.
// A multi-objective study's median pruner is the dominance rule of
// pruneDominated.
func (t *Tuner) ShouldPrune(ctx context.Context, s *trials.Study, tr *trials.Trial) (bool, map[string]string, error) {
	pruner, err := newPruner(s.Pruner)
	if err != nil {
		return false, nil, fmt.Errorf("tuner: study %d: %w", s.ID, err)
	}
	if pruner == nil || tr.State != trials.TrialRunning || len(tr.Intermediate) == 0 {
		return false, nil, nil
	}
	sp, err := newSpace(s.SearchSpace)
	if err != nil {
		return false, nil, fmt.Errorf("tuner: study %d: %w", s.ID, err)
	}
	st := t.state(s.ID)
	if err := t.refresh(ctx, st, sp); err != nil {
		return false, nil, err
	}
	st.mu.Lock()
	st.upsert(tr)
	snap := st.snapshot()
	extra := st.attrs[tr.ID]
	st.mu.Unlock()
	if s.MultiObjective() {
		return pruneDominated(s, tr, snap.entries), nil, nil
	}

	e := &entry{t: *tr, internal: make([]float64, len(sp.params)), has: make([]bool, len(sp.params))}
	target := frozenTrial(tr, sp, e, extra)
	cp := &capture{target: &target, internal: map[string]float64{}, attrs: map[string]string{}}
	v := &view{studyID: int(s.ID), name: s.Name, direction: direction(s), snap: snap, cap: cp}
	study, err := goptuna.LoadStudy(s.Name,
		goptuna.StudyOptionStorage(v),
		goptuna.StudyOptionPruner(pruner),
		goptuna.StudyOptionLogger(nil))
	if err != nil {
		return false, nil, fmt.Errorf("tuner: prune trial %d: %w", tr.ID, err)
	}
	prune, err := pruner.Prune(study, target)
	if err != nil {
		return false, nil, fmt.Errorf("tuner: prune trial %d: %w", tr.ID, err)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.attrs) == 0 {
		return prune, nil, nil
	}
	return prune, cp.attrs, nil
}
