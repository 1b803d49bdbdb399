package tuner

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

// entry is one cached trial with its params already in Goptuna's internal
// representation. Entries are immutable: an update replaces the pointer, so
// snapshots handed to samplers never change under them.
type entry struct {
	t trials.Trial
	// internal holds one value per param of the space (in space order); has
	// says which are present.
	internal []float64
	has      []bool
	frozen   goptuna.FrozenTrial
	// pruned is TPE's score of the trial were it pruned, for a minimized
	// objective (see prunedScore).
	pruned [2]float64
}

// prunedScore is the entry's score as a pruned trial for TPE, for a
// direction's sign (-1 when maximizing): computed once per version of the
// trial rather than once per Suggest and param.
func (e *entry) prunedScore(sign float64) [2]float64 {
	s := e.pruned
	if !math.IsInf(s[0], 1) { // +Inf: no intermediate values, nothing to sign
		s[1] *= sign
	}
	return s
}

// pending is a proposal handed out by Suggest that its caller has not bound
// to a stored trial (Tuner.Bind) or given up (Tuner.Release) yet. Until then
// it counts as a running trial: it takes a trial number (so concurrent asks
// get different seeds) and is imputed by the constant liar (so they get
// different params). It is known by its identity, never by its params: two
// proposals may well have the same params, and so may an enqueued trial.
type pending struct {
	created  time.Time
	internal []float64 // nil while still sampling
	// attrs are the system attrs Goptuna wrote while sampling (CMA-ES keeps
	// its generation there); they are attached to the trial it is bound to.
	attrs map[string]string
}

// studyState is the cache of one study. mu guards everything but the
// samplers' own state; nothing slow happens under it.
type studyState struct {
	id int64

	// refreshMu serializes fetches; started counts fetches begun, so a
	// caller that waited for someone else's fetch can skip its own.
	refreshMu sync.Mutex
	started   atomic.Int64

	mu        sync.Mutex
	sp        *space
	loaded    bool
	cursor    int64 // HistorySource's; 0 until loaded
	lastFetch time.Time
	byID      map[int64]*entry
	order     []*entry // by trial number
	snap      *history // immutable copy of order; nil when stale
	pending   []*pending
	// attrs keeps the system attrs of proposals (see pending.attrs) by
	// trial id, merged into the trial's own.
	attrs map[int64]map[string]string

	// relMu serializes the study's stateful relative sampler (CMA-ES or
	// Sobol), which Goptuna does not make safe for concurrent use.
	relMu  sync.Mutex
	rel    goptuna.RelativeSampler
	relKey string
}

func newStudyState(id int64) *studyState {
	return &studyState{
		id:    id,
		byID:  make(map[int64]*entry),
		attrs: make(map[int64]map[string]string),
	}
}

// refresh brings the cache up to date: everything on first use, then only
// what changed since the cursor.
func (t *Tuner) refresh(ctx context.Context, st *studyState, sp *space) error {
	arrived := st.started.Load()
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()

	st.mu.Lock()
	st.setSpace(sp)
	loaded, cursor, last := st.loaded, st.cursor, st.lastFetch
	st.mu.Unlock()
	if loaded {
		if st.started.Load() > arrived {
			// A fetch began after this call arrived and has finished: it saw
			// every write this caller could know of.
			return nil
		}
		if t.refreshEvery > 0 && time.Since(last) < t.refreshEvery {
			return nil
		}
	}

	st.started.Add(1)
	begun := time.Now()
	changed, next, err := t.src.TrialsChangedSince(ctx, st.id, cursor)
	if err != nil {
		return fmt.Errorf("tuner: history of study %d: %w", st.id, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := range changed {
		st.upsert(&changed[i])
	}
	st.cursor, st.loaded, st.lastFetch = next, true, begun
	return nil
}

// setSpace converts the cached trials again if the study's space is not
// the one they were converted for.
func (st *studyState) setSpace(sp *space) {
	if st.sp != nil && st.sp.key == sp.key {
		return
	}
	st.sp = sp
	for i, e := range st.order {
		ne := st.newEntry(e.t)
		st.order[i] = ne
		st.byID[e.t.ID] = ne
	}
	st.pending = nil
	st.snap = nil
}

// upsert stores a trial unless the cache already holds a newer version.
func (st *studyState) upsert(tr *trials.Trial) {
	if tr.StudyID != st.id || st.sp == nil {
		return
	}
	old := st.byID[tr.ID]
	if old != nil && !tr.UpdatedAt.IsZero() && old.t.UpdatedAt.After(tr.UpdatedAt) {
		return
	}
	e := st.newEntry(*tr)
	st.byID[tr.ID] = e
	st.snap = nil
	if old != nil && old.t.Number == tr.Number {
		i, _ := slices.BinarySearchFunc(st.order, tr.Number, byNumber)
		if i < len(st.order) && st.order[i] == old {
			st.order[i] = e
			return
		}
	}
	if old != nil {
		st.order = slices.DeleteFunc(st.order, func(x *entry) bool { return x == old })
	}
	i, _ := slices.BinarySearchFunc(st.order, tr.Number, byNumber)
	st.order = slices.Insert(st.order, i, e)
}

func byNumber(e *entry, n int) int { return e.t.Number - n }

// bind drops proposal p, which the caller stored as trial tr, keeps the
// system attrs Goptuna wrote for it with that trial, and caches the trial.
// Callers must hold mu. Between the store's write and bind, a refresh may
// already show the trial while p still counts: the proposal is then counted
// twice for that moment, never lost.
func (st *studyState) bind(p *pending, tr *trials.Trial) {
	st.drop(p)
	if len(p.attrs) > 0 {
		st.attrs[tr.ID] = p.attrs
	}
	old := st.byID[tr.ID]
	st.upsert(tr)
	if e := st.byID[tr.ID]; e != nil && e == old && len(p.attrs) > 0 {
		// The cache holds a newer version, built before the attrs were
		// known: build it again with them.
		cur := e.t
		st.upsert(&cur)
	}
}

// drop forgets proposal p; callers must hold mu.
func (st *studyState) drop(p *pending) {
	st.pending = slices.DeleteFunc(st.pending, func(x *pending) bool { return x == p })
}

// newEntry converts a trial for the current space. The trial's maps are
// copied: samplers read the entry long after the caller handed it over.
func (st *studyState) newEntry(tr trials.Trial) *entry {
	sp := st.sp
	tr.Params = maps.Clone(tr.Params)
	tr.SystemAttrs = maps.Clone(tr.SystemAttrs)
	tr.Intermediate = slices.Clone(tr.Intermediate)
	// Metrics hold a multi-objective trial's values and what its
	// constraints are checked against.
	tr.Metrics = maps.Clone(tr.Metrics)
	e := &entry{
		t:        tr,
		internal: make([]float64, len(sp.params)),
		has:      make([]bool, len(sp.params)),
	}
	for i, p := range sp.params {
		v, ok := tr.Params[p.name]
		if !ok {
			continue
		}
		e.internal[i], e.has[i] = p.toInternal(v)
	}
	e.frozen = frozenTrial(&tr, sp, e, st.attrs[tr.ID])
	e.pruned = prunedScore(e.frozen.IntermediateValues, 1)
	return e
}

// reservation is what a Suggest works from: a snapshot of the history, the
// number the new trial will most likely get, and the proposals still in
// flight.
type reservation struct {
	snap     *history
	number   int
	inflight [][]float64
	p        *pending
}

// reserve takes a snapshot and a place among the in-flight proposals.
func (st *studyState) reserve(now time.Time, ttl time.Duration) reservation {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pending = slices.DeleteFunc(st.pending, func(p *pending) bool {
		return now.Sub(p.created) > ttl
	})
	r := reservation{
		snap:   st.snapshot(),
		number: len(st.order) + len(st.pending),
		p:      &pending{created: now},
	}
	for _, p := range st.pending {
		if p.internal != nil {
			r.inflight = append(r.inflight, p.internal)
		}
	}
	st.pending = append(st.pending, r.p)
	return r
}

// settle records the params sampled for a reservation, or drops it when
// sampling failed.
func (st *studyState) settle(p *pending, internal []float64, attrs map[string]string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if internal == nil {
		st.drop(p)
		return
	}
	p.internal, p.attrs = internal, attrs
}

// history is an immutable snapshot of a study's trials by number, shared
// by every call until the study changes.
type history struct {
	entries []*entry

	once   sync.Once
	frames []goptuna.FrozenTrial
}

// frozen returns the trials as Goptuna's pruners and relative samplers read
// them, built once per snapshot. Callers must not modify them.
func (h *history) frozen() []goptuna.FrozenTrial {
	h.once.Do(func() {
		h.frames = make([]goptuna.FrozenTrial, len(h.entries))
		for i, e := range h.entries {
			h.frames[i] = e.frozen
		}
	})
	return h.frames
}

// snapshot returns the trials by number; callers must hold mu.
func (st *studyState) snapshot() *history {
	if st.snap == nil {
		st.snap = &history{entries: slices.Clone(st.order)}
	}
	return st.snap
}

var goptunaStates = map[trials.TrialState]goptuna.TrialState{
	trials.TrialWaiting:  goptuna.TrialStateWaiting,
	trials.TrialRunning:  goptuna.TrialStateRunning,
	trials.TrialComplete: goptuna.TrialStateComplete,
	trials.TrialPruned:   goptuna.TrialStatePruned,
	trials.TrialFailed:   goptuna.TrialStateFail,
}

// frozenTrial is the trial as Goptuna's pruners and relative samplers read
// it.
func frozenTrial(tr *trials.Trial, sp *space, e *entry, extra map[string]string) goptuna.FrozenTrial {
	f := goptuna.FrozenTrial{
		ID:                 int(tr.ID),
		StudyID:            int(tr.StudyID),
		Number:             tr.Number,
		State:              goptunaStates[tr.State],
		IntermediateValues: make(map[int]float64, len(tr.Intermediate)),
		DatetimeStart:      tr.CreatedAt,
		InternalParams:     make(map[string]float64, len(sp.params)),
		Params:             make(map[string]any, len(sp.params)),
		Distributions:      make(map[string]any, len(sp.params)),
		UserAttrs:          map[string]string{},
		SystemAttrs:        make(map[string]string, len(tr.SystemAttrs)+len(extra)),
	}
	if tr.Value != nil {
		f.Value = *tr.Value
	}
	if tr.StartedAt != nil {
		f.DatetimeStart = *tr.StartedAt
	}
	if tr.FinishedAt != nil {
		f.DatetimeComplete = *tr.FinishedAt
	}
	for _, iv := range tr.Intermediate {
		f.IntermediateValues[iv.Step] = iv.Value
	}
	for i, p := range sp.params {
		if e.has[i] {
			f.InternalParams[p.name] = e.internal[i]
			f.Params[p.name] = tr.Params[p.name]
			f.Distributions[p.name] = p.dist
		}
	}
	maps.Copy(f.SystemAttrs, extra)
	maps.Copy(f.SystemAttrs, tr.SystemAttrs)
	return f
}
