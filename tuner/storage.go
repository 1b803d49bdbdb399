package tuner

import (
	"errors"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

// newTrialID is the id Goptuna knows the trial being proposed by. Real
// trial ids are positive.
const newTrialID = -1

var errReadOnly = errors.New("tuner: the history view is read-only")

// capture holds what Goptuna writes while it samples or prunes one trial.
// Nothing is written anywhere else: the caller persists it.
type capture struct {
	mu       sync.Mutex
	target   *goptuna.FrozenTrial // the trial being proposed or judged
	internal map[string]float64
	attrs    map[string]string
}

// view is a goptuna.Storage over a snapshot of one study's history plus the
// one trial being worked on. Reads come from the snapshot; the target's
// writes go to the capture. Goptuna compares its sentinel errors with ==,
// so they are returned as they are.
type view struct {
	studyID   int
	name      string
	direction goptuna.StudyDirection
	snap      *history
	cap       *capture
	// flip negates values and reports minimize: Goptuna's CMA-ES always
	// minimizes the raw value.
	flip bool
	// obs is TPE's history, built once per view for all params.
	obs *observations
}

var _ goptuna.Storage = (*view)(nil)

func (v *view) checkStudy(studyID int) error {
	if studyID != v.studyID {
		return goptuna.ErrInvalidStudyID
	}
	return nil
}

// The study itself is read-only; user attrs are not used.

func (v *view) CreateNewStudy(string) (int, error)                  { return -1, errReadOnly }
func (v *view) DeleteStudy(int) error                               { return errReadOnly }
func (v *view) SetStudyDirection(int, goptuna.StudyDirection) error { return errReadOnly }
func (v *view) SetStudyUserAttr(int, string, string) error          { return errReadOnly }
func (v *view) SetStudySystemAttr(int, string, string) error        { return errReadOnly }
func (v *view) CloneTrial(int, goptuna.FrozenTrial) (int, error)    { return -1, errReadOnly }
func (v *view) GetStudyUserAttrs(int) (map[string]string, error)    { return map[string]string{}, nil }
func (v *view) GetStudySystemAttrs(int) (map[string]string, error)  { return map[string]string{}, nil }
func (v *view) GetStudyNameFromID(id int) (string, error)           { return v.name, v.checkStudy(id) }
func (v *view) GetStudyIDFromTrialID(int) (int, error)              { return v.studyID, nil }
func (v *view) GetTrialUserAttrs(int) (map[string]string, error)    { return map[string]string{}, nil }

func (v *view) GetStudyIDFromName(name string) (int, error) {
	if name != v.name {
		return -1, errors.New("study not found")
	}
	return v.studyID, nil
}

func (v *view) GetStudyDirection(id int) (goptuna.StudyDirection, error) {
	if v.flip {
		return goptuna.StudyDirectionMinimize, v.checkStudy(id)
	}
	return v.direction, v.checkStudy(id)
}

func (v *view) GetAllStudySummaries() ([]goptuna.StudySummary, error) {
	s := goptuna.StudySummary{
		ID:          v.studyID,
		Name:        v.name,
		Direction:   v.direction,
		UserAttrs:   map[string]string{},
		SystemAttrs: map[string]string{},
	}
	if best, err := v.GetBestTrial(v.studyID); err == nil {
		s.BestTrial = best
	}
	return []goptuna.StudySummary{s}, nil
}

// CreateNewTrial starts the trial being proposed.
func (v *view) CreateNewTrial(studyID int) (int, error) {
	if err := v.checkStudy(studyID); err != nil {
		return -1, err
	}
	v.cap.mu.Lock()
	defer v.cap.mu.Unlock()
	if v.cap.target != nil {
		return -1, errReadOnly
	}
	v.cap.target = &goptuna.FrozenTrial{
		ID:                 newTrialID,
		StudyID:            v.studyID,
		Number:             len(v.snap.entries),
		State:              goptuna.TrialStateRunning,
		IntermediateValues: map[int]float64{},
		DatetimeStart:      time.Now(),
		InternalParams:     map[string]float64{},
		Params:             map[string]any{},
		Distributions:      map[string]any{},
		UserAttrs:          map[string]string{},
		SystemAttrs:        map[string]string{},
	}
	return newTrialID, nil
}

// writable reports whether Goptuna may write to the trial: only the target.
func (v *view) writable(trialID int) error {
	if v.cap.target == nil || trialID != v.cap.target.ID {
		return goptuna.ErrInvalidTrialID
	}
	return nil
}

func (v *view) SetTrialParam(trialID int, name string, internal float64, dist any) error {
	v.cap.mu.Lock()
	defer v.cap.mu.Unlock()
	if err := v.writable(trialID); err != nil {
		return err
	}
	ext, err := goptuna.ToExternalRepresentation(dist, internal)
	if err != nil {
		return err
	}
	v.cap.internal[name] = internal
	// The target is copied out by GetTrial; replace its maps rather than
	// write into maps a reader may hold.
	t := *v.cap.target
	t.InternalParams = maps.Clone(t.InternalParams)
	t.Params = maps.Clone(t.Params)
	t.Distributions = maps.Clone(t.Distributions)
	t.InternalParams[name], t.Params[name], t.Distributions[name] = internal, ext, dist
	v.cap.target = &t
	return nil
}

func (v *view) SetTrialSystemAttr(trialID int, key, value string) error {
	v.cap.mu.Lock()
	defer v.cap.mu.Unlock()
	if err := v.writable(trialID); err != nil {
		return err
	}
	v.cap.attrs[key] = value
	t := *v.cap.target
	t.SystemAttrs = maps.Clone(t.SystemAttrs)
	t.SystemAttrs[key] = value
	v.cap.target = &t
	return nil
}

// SetTrialUserAttr accepts and drops user attrs: no sampler or pruner of
// Goptuna's writes any.
func (v *view) SetTrialUserAttr(trialID int, _, _ string) error {
	v.cap.mu.Lock()
	defer v.cap.mu.Unlock()
	return v.writable(trialID)
}

// The value, state and intermediate values of the target are the caller's
// to write; Goptuna's samplers and pruners never set them.

func (v *view) SetTrialValue(trialID int, _ float64) error {
	return v.guarded(trialID)
}

func (v *view) SetTrialIntermediateValue(trialID int, _ int, _ float64) error {
	return v.guarded(trialID)
}

func (v *view) SetTrialState(trialID int, _ goptuna.TrialState) error {
	return v.guarded(trialID)
}

func (v *view) guarded(trialID int) error {
	v.cap.mu.Lock()
	defer v.cap.mu.Unlock()
	if err := v.writable(trialID); err != nil {
		return err
	}
	return errReadOnly
}

// find returns the trial with the id from the snapshot or the capture.
func (v *view) find(trialID int) (goptuna.FrozenTrial, error) {
	v.cap.mu.Lock()
	target := v.cap.target
	v.cap.mu.Unlock()
	if target != nil && target.ID == trialID {
		return v.flipped(*target), nil
	}
	for _, e := range v.snap.entries {
		if int(e.t.ID) == trialID {
			return v.flipped(e.frozen), nil
		}
	}
	return goptuna.FrozenTrial{}, goptuna.ErrInvalidTrialID
}

func (v *view) flipped(f goptuna.FrozenTrial) goptuna.FrozenTrial {
	if v.flip {
		f.Value = -f.Value
	}
	return f
}

func (v *view) GetTrial(trialID int) (goptuna.FrozenTrial, error) {
	return v.find(trialID)
}

func (v *view) GetTrialNumberFromID(trialID int) (int, error) {
	f, err := v.find(trialID)
	if err != nil {
		return -1, err
	}
	return f.Number, nil
}

func (v *view) GetTrialParam(trialID int, name string) (float64, error) {
	f, err := v.find(trialID)
	if err != nil {
		return -1, err
	}
	x, ok := f.InternalParams[name]
	if !ok {
		return -1, errors.New("param doesn't exist")
	}
	return x, nil
}

func (v *view) GetTrialParams(trialID int) (map[string]any, error) {
	f, err := v.find(trialID)
	if err != nil {
		return nil, err
	}
	return f.Params, nil
}

func (v *view) GetTrialSystemAttrs(trialID int) (map[string]string, error) {
	f, err := v.find(trialID)
	if err != nil {
		return nil, err
	}
	return maps.Clone(f.SystemAttrs), nil
}

// GetAllTrials returns the history by number, with the target last when it
// is new (as Goptuna's own storages do) or in its place when it is not.
func (v *view) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	if err := v.checkStudy(studyID); err != nil {
		return nil, err
	}
	frames := v.snap.frozen()
	v.cap.mu.Lock()
	target := v.cap.target
	v.cap.mu.Unlock()
	out := make([]goptuna.FrozenTrial, len(frames), len(frames)+1)
	copy(out, frames)
	if v.flip {
		for i := range out {
			out[i].Value = -out[i].Value
		}
	}
	if target == nil {
		return out, nil
	}
	for i := range out {
		if out[i].ID == target.ID {
			out[i] = v.flipped(*target)
			return out, nil
		}
	}
	return append(out, v.flipped(*target)), nil
}

func (v *view) GetBestTrial(studyID int) (goptuna.FrozenTrial, error) {
	all, err := v.GetAllTrials(studyID)
	if err != nil {
		return goptuna.FrozenTrial{}, err
	}
	dir, _ := v.GetStudyDirection(studyID)
	best, found := goptuna.FrozenTrial{}, false
	for _, f := range all {
		if f.State != goptuna.TrialStateComplete {
			continue
		}
		if !found || (dir == goptuna.StudyDirectionMaximize && f.Value > best.Value) ||
			(dir != goptuna.StudyDirectionMaximize && f.Value < best.Value) {
			best, found = f, true
		}
	}
	if !found {
		return goptuna.FrozenTrial{}, goptuna.ErrNoCompletedTrials
	}
	return best, nil
}

// observations is the history TPE reads, in Goptuna's (score, value) pairs,
// gathered once per Suggest for every param instead of once per param from
// FrozenTrials. Running and waiting trials and in-flight proposals are
// imputed as complete with the worst complete value ("constant liar", as
// Optuna does), so concurrent asks do not all land on the same point.
//
// The cache converted each trial's params when it took the trial in, so
// gathering converts nothing: it is one pass over the snapshot's entries
// that appends each row to the pairs of the params it has.
type observations struct {
	index map[string]int
	// vals and scores are, per param (space order), the rows that have the
	// param, in trial order, in-flight proposals last. Read-only.
	vals   [][]float64
	scores [][][2]float64
	// real counts, per param, rows that are finished trials: start-up is
	// decided on them alone, so imputed rows never end it early.
	real []int
}

func newObservations(sp *space, snap []*entry, inflight [][]float64, j *judge) *observations {
	sign := j.signs[0]
	o := &observations{
		index:  sp.index,
		vals:   make([][]float64, len(sp.params)),
		scores: make([][][2]float64, len(sp.params)),
		real:   make([]int, len(sp.params)),
	}
	n := len(snap) + len(inflight)
	for i := range o.vals {
		o.vals[i] = make([]float64, 0, n)
		o.scores[i] = make([][2]float64, 0, n)
	}
	worst, haveWorst := math.Inf(-1), false
	for _, e := range snap {
		if e.t.State == trials.TrialComplete && e.t.Value != nil {
			worst, haveWorst = math.Max(worst, sign**e.t.Value), true
		}
	}
	add := func(score [2]float64, internal []float64, has []bool, real bool) {
		for i, x := range internal {
			if has != nil && !has[i] {
				continue
			}
			if real {
				o.real[i]++
			}
			if !math.IsNaN(x) {
				o.vals[i] = append(o.vals[i], x)
				o.scores[i] = append(o.scores[i], score)
			}
		}
	}
	for _, e := range snap {
		switch v, values, violation := j.read(&e.t); v {
		case seenComplete:
			add([2]float64{math.Inf(-1), values[0]}, e.internal, e.has, true)
		case seenPruned:
			add(e.prunedScore(sign), e.internal, e.has, true)
		case seenInfeasible:
			// After every other trial, the least violation first (see judge).
			add([2]float64{math.Inf(1), violation}, e.internal, e.has, e.t.State == trials.TrialComplete)
		case seenRunning:
			if haveWorst {
				add([2]float64{math.Inf(-1), worst}, e.internal, e.has, false)
			}
		}
	}
	if haveWorst {
		for _, internal := range inflight {
			add([2]float64{math.Inf(-1), worst}, internal, nil, false)
		}
	}
	return o
}

// prunedScore ranks a pruned trial as Goptuna's TPE does: by its last step
// (later is better), then its value there. Goptuna only looks at steps
// above 0, so a trial pruned at step 0 scores 0 at step 0; kept as is.
func prunedScore(iv map[int]float64, sign float64) [2]float64 {
	if len(iv) == 0 {
		return [2]float64{math.Inf(1), 0}
	}
	step, value := 0, 0.0
	for k, x := range iv {
		if k > step {
			step, value = k, x
		}
	}
	return [2]float64{float64(-step), sign * value}
}

// pairs returns the history of one param: its values and scores in trial
// order, and how many of them are finished trials. The slices are shared:
// callers must not modify them.
func (o *observations) pairs(name string) ([]float64, [][2]float64, int, bool) {
	i, ok := o.index[name]
	if !ok {
		return nil, nil, 0, false
	}
	return o.vals[i], o.scores[i], o.real[i], true
}
