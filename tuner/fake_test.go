package tuner

import (
	"context"
	"maps"
	"math"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// memSource is an in-memory trial store: the HistorySource the tuner reads,
// plus the writes the service would make. It counts what the tuner reads.
// Its cursor is a change counter: every write stamps the trial with the
// next count, as the database stamps it with the writing transaction's id.
type memSource struct {
	mu      sync.Mutex
	clock   time.Time
	changes int64 // writes so far
	nextID  int64
	byID    map[int64]trials.Trial
	stamp   map[int64]int64 // trial id -> changes at its last write
	calls   int             // TrialsChangedSince calls
	rows    int             // trials returned by them
	full    int             // calls with cursor 0
}

func newMemSource() *memSource {
	return &memSource{
		clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		byID:  map[int64]trials.Trial{},
		stamp: map[int64]int64{},
	}
}

func (m *memSource) TrialsChangedSince(_ context.Context, studyID int64, cursor int64) ([]trials.Trial, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if cursor == 0 {
		m.full++
	}
	var out []trials.Trial
	for id, tr := range m.byID {
		if tr.StudyID == studyID && m.stamp[id] >= cursor {
			out = append(out, clone(tr))
		}
	}
	slices.SortFunc(out, func(a, b trials.Trial) int { return a.Number - b.Number })
	m.rows += len(out)
	return out, m.changes + 1, nil
}

func (m *memSource) counts() (calls, rows, full int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls, m.rows, m.full
}

func clone(tr trials.Trial) trials.Trial {
	c := tr
	c.Intermediate = slices.Clone(tr.Intermediate)
	if tr.Params != nil {
		c.Params = make(map[string]any, len(tr.Params))
		for k, v := range tr.Params {
			c.Params[k] = v
		}
	}
	if tr.SystemAttrs != nil {
		c.SystemAttrs = make(map[string]string, len(tr.SystemAttrs))
		for k, v := range tr.SystemAttrs {
			c.SystemAttrs[k] = v
		}
	}
	return c
}

// create adds a trial to the study with the next number.
func (m *memSource) create(studyID int64, params map[string]any, state trials.TrialState) trials.Trial {
	return m.createWith(studyID, params, nil, state)
}

// createWith adds a trial with system attrs, in one write as a store's
// CreateRunning does.
func (m *memSource) createWith(studyID int64, params map[string]any, attrs map[string]string, state trials.TrialState) trials.Trial {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	n := 0
	for _, tr := range m.byID {
		if tr.StudyID == studyID {
			n++
		}
	}
	m.clock = m.clock.Add(time.Millisecond)
	tr := trials.Trial{ID: m.nextID, StudyID: studyID, Number: n, State: state, Params: params, CreatedAt: m.clock, UpdatedAt: m.clock}
	tr.SystemAttrs = maps.Clone(attrs)
	m.byID[tr.ID] = clone(tr)
	m.changes++
	m.stamp[tr.ID] = m.changes
	return clone(tr)
}

// update changes a trial through fn and stamps it.
func (m *memSource) update(id int64, fn func(*trials.Trial)) trials.Trial {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr := clone(m.byID[id])
	fn(&tr)
	m.clock = m.clock.Add(time.Millisecond)
	tr.UpdatedAt = m.clock
	m.byID[id] = tr
	m.changes++
	m.stamp[id] = m.changes
	return clone(tr)
}

func (m *memSource) complete(id int64, value float64) trials.Trial {
	return m.update(id, func(tr *trials.Trial) {
		tr.State, tr.Value = trials.TrialComplete, &value
	})
}

func (m *memSource) report(id int64, step int, value float64) trials.Trial {
	return m.update(id, func(tr *trials.Trial) {
		tr.Intermediate = append(tr.Intermediate, trials.Intermediate{Step: step, Value: value})
	})
}

// ask is what the broker's ask does: suggest, write the running trial with
// the proposal's system attrs, and bind the proposal to it.
func ask(t testing.TB, tn *Tuner, src *memSource, s *trials.Study) trials.Trial {
	t.Helper()
	prop, err := tn.Suggest(context.Background(), s)
	params := prop.Params
	if err != nil {
		t.Fatalf("Suggest: %v", err)
	}
	norm, err := s.SearchSpace.Decode(params)
	if err != nil {
		t.Fatalf("Suggest proposed params the space refuses: %v (%v)", err, params)
	}
	tr := src.createWith(s.ID, norm, prop.SystemAttrs, trials.TrialRunning)
	tn.Bind(prop.Handle, &tr)
	return tr
}

// origins runs n sequential ask/tell rounds, as optimize does, and returns
// the origin each proposal reported.
func origins(t testing.TB, tn *Tuner, src *memSource, s *trials.Study, n int, f func(map[string]any) float64) []trials.Origin {
	t.Helper()
	var out []trials.Origin
	for range n {
		prop, err := tn.Suggest(context.Background(), s)
		if err != nil {
			t.Fatalf("Suggest: %v", err)
		}
		out = append(out, prop.Origin)
		norm, err := s.SearchSpace.Decode(prop.Params)
		if err != nil {
			t.Fatalf("Suggest proposed params the space refuses: %v (%v)", err, prop.Params)
		}
		tr := src.createWith(s.ID, norm, prop.SystemAttrs, trials.TrialRunning)
		tn.Bind(prop.Handle, &tr)
		done := src.complete(tr.ID, f(tr.Params))
		tn.Observe(&done)
	}
	return out
}

// optimize runs n sequential ask/tell rounds and returns the trials.
func optimize(t testing.TB, tn *Tuner, src *memSource, s *trials.Study, n int, f func(map[string]any) float64) []trials.Trial {
	t.Helper()
	var out []trials.Trial
	for range n {
		tr := ask(t, tn, src, s)
		done := src.complete(tr.ID, f(tr.Params))
		tn.Observe(&done)
		out = append(out, done)
	}
	return out
}

func best(ts []trials.Trial, dir trials.Direction) float64 {
	b := math.Inf(1)
	if dir == trials.Maximize {
		b = math.Inf(-1)
	}
	for _, tr := range ts {
		if tr.Value != nil && dir.Better(*tr.Value, b) {
			b = *tr.Value
		}
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// knobs is the space the product exists for.
func knobs() trials.SearchSpace {
	return trials.SearchSpace{
		"learning_rate": {Type: trials.Float, Low: 1e-5, High: 1, Log: true},
		"batch_size":    {Type: trials.Int, Low: 16, High: 1024, Log: true},
		"activation":    {Type: trials.Categorical, Choices: []any{"relu", "tanh", "sigmoid", "leaky_relu"}},
		"precision":     {Type: trials.Categorical, Choices: []any{"float32", "float64"}},
		"workers":       {Type: trials.Int, Low: 1, High: 8},
	}
}

func newStudy(id int64, sampler string, space trials.SearchSpace) *trials.Study {
	s := trials.Study{
		ID:          id,
		Name:        "study-" + string(rune('a'+id%26)),
		Objective:   trials.Objective{Metric: "loss", Direction: trials.Minimize},
		SearchSpace: space,
		Sampler:     trials.Sampler{Type: sampler},
	}.WithDefaults()
	return &s
}

// knobLoss has a clear optimum at lr 1e-3, batch 128, relu, float32, 6
// workers, with seeded noise.
func knobLoss(rng *rand.Rand) func(map[string]any) float64 {
	return func(p map[string]any) float64 {
		lr := p["learning_rate"].(float64)
		bs := float64(p["batch_size"].(int64))
		v := math.Pow(math.Log10(lr)+3, 2) + 0.5*math.Pow(math.Log2(bs)-7, 2)
		switch p["activation"] {
		case "leaky_relu":
			v += 0.3
		case "tanh":
			v += 1
		case "sigmoid":
			v += 2
		}
		if p["precision"] == "float64" {
			v += 0.5
		}
		v += 0.2 * math.Abs(float64(p["workers"].(int64))-6)
		return v + 0.05*rng.NormFloat64()
	}
}
