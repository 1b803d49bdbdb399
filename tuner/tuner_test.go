package tuner

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

var samplerTypes = []string{trials.SamplerTPE, trials.SamplerRandom, trials.SamplerCMAES, trials.SamplerQMC}

func TestIntLogCoversRange(t *testing.T) {
	space := trials.SearchSpace{
		"batch_size": {Type: trials.Int, Low: 16, High: 1024, Log: true},
		"x":          {Type: trials.Float, Low: -1, High: 1},
	}
	for _, typ := range samplerTypes {
		t.Run(typ, func(t *testing.T) {
			src := newMemSource()
			tn := New(src)
			s := newStudy(1, typ, space)
			s.Sampler.Seed = ptr(int64(3))
			// A flat objective keeps TPE exploring the whole range.
			ts := optimize(t, tn, src, s, 80, func(map[string]any) float64 { return 1 })
			var small, large, mid int
			for _, tr := range ts {
				v, ok := tr.Params["batch_size"].(int64)
				if !ok {
					t.Fatalf("batch_size is %T, want int64", tr.Params["batch_size"])
				}
				if v < 16 || v > 1024 {
					t.Fatalf("batch_size %d outside [16, 1024]", v)
				}
				switch {
				case v < 64:
					small++
				case v > 256:
					large++
				default:
					mid++
				}
			}
			// Log-uniform over [16, 1024] puts a third of the mass in each of
			// [16,64), [64,256], (256,1024]; uniform would put 5% below 64.
			// CMA-ES is not a covering sampler: on a flat objective it stays
			// near its start.
			if typ != trials.SamplerCMAES && (small < 10 || large < 10 || mid < 10) {
				t.Errorf("batch_size spread small/mid/large = %d/%d/%d, want each >= 10 of 80", small, mid, large)
			}
		})
	}
}

func TestIntLogReachesEnds(t *testing.T) {
	space := trials.SearchSpace{"n": {Type: trials.Int, Low: 1, High: 4, Log: true}}
	src := newMemSource()
	tn := New(src)
	s := newStudy(1, trials.SamplerRandom, space)
	seen := map[int64]int{}
	for _, tr := range optimize(t, tn, src, s, 200, func(map[string]any) float64 { return 0 }) {
		seen[tr.Params["n"].(int64)]++
	}
	for v := int64(1); v <= 4; v++ {
		if seen[v] == 0 {
			t.Errorf("value %d never proposed in 200 draws: %v", v, seen)
		}
	}
	// Rounding a log-uniform draw over [0.5, 4.5]: 1 has log(3) of the
	// log(9) mass, 4 only log(9/7).
	if seen[1] <= seen[4] {
		t.Errorf("1 should be proposed more often than 4 on a log scale: %v", seen)
	}
}

func TestStepRespected(t *testing.T) {
	space := trials.SearchSpace{
		"dropout": {Type: trials.Float, Low: 0.1, High: 1, Step: ptr(0.3)},   // grid 0.1 0.4 0.7 1.0
		"units":   {Type: trials.Int, Low: 0, High: 10, Step: ptr(4.0)},      // grid 0 4 8
		"width":   {Type: trials.Float, Low: 0, High: 0.95, Step: ptr(0.25)}, // high off the grid
		"x":       {Type: trials.Float, Low: 0, High: 1},
	}
	for _, typ := range samplerTypes {
		t.Run(typ, func(t *testing.T) {
			src := newMemSource()
			tn := New(src)
			s := newStudy(2, typ, space)
			ts := optimize(t, tn, src, s, 60, func(p map[string]any) float64 {
				return p["dropout"].(float64) + float64(p["units"].(int64)) + p["x"].(float64)
			})
			units := map[int64]bool{}
			for _, tr := range ts {
				// optimize already ran NormalizeParams, which checks the grid.
				u := tr.Params["units"].(int64)
				if u != 0 && u != 4 && u != 8 {
					t.Fatalf("units %d off the grid", u)
				}
				units[u] = true
				if w := tr.Params["width"].(float64); w > 0.95 {
					t.Fatalf("width %v above high", w)
				}
			}
			if typ == trials.SamplerRandom && len(units) != 3 {
				t.Errorf("random search proposed units %v, want all of 0, 4, 8", units)
			}
		})
	}
}

func TestCategoricalChoices(t *testing.T) {
	space := trials.SearchSpace{
		"kernel": {Type: trials.Categorical, Choices: []any{float64(3), float64(5), 7.5}},
		"act":    {Type: trials.Categorical, Choices: []any{"relu", "tanh"}},
		"flag":   {Type: trials.Categorical, Choices: []any{true, false}},
		"x":      {Type: trials.Float, Low: 0, High: 1},
		"y":      {Type: trials.Float, Low: 0, High: 1},
	}
	for _, typ := range samplerTypes {
		t.Run(typ, func(t *testing.T) {
			src := newMemSource()
			tn := New(src)
			s := newStudy(3, typ, space)
			seen := map[string]map[any]int{"kernel": {}, "act": {}, "flag": {}}
			ts := optimize(t, tn, src, s, 40, func(p map[string]any) float64 { return p["x"].(float64) })
			for _, tr := range ts {
				for name := range seen {
					v := tr.Params[name]
					seen[name][v]++
				}
			}
			want := map[string][]any{"kernel": {float64(3), float64(5), 7.5}, "act": {"relu", "tanh"}, "flag": {true, false}}
			for name, choices := range want {
				for v := range seen[name] {
					found := false
					for _, c := range choices {
						if v == c {
							found = true
						}
					}
					if !found {
						t.Errorf("%s: %v (%T) is not a declared choice", name, v, v)
					}
				}
				if len(seen[name]) != len(choices) {
					t.Errorf("%s: proposed %v in 40 trials, want every choice", name, seen[name])
				}
			}
		})
	}
}

func TestSeededStudiesReproduce(t *testing.T) {
	for _, typ := range samplerTypes {
		t.Run(typ, func(t *testing.T) {
			run := func(id int64) []map[string]any {
				src := newMemSource()
				tn := New(src)
				s := newStudy(id, typ, knobs())
				s.Sampler.Seed = ptr(int64(42))
				var out []map[string]any
				for _, tr := range optimize(t, tn, src, s, 30, knobLoss(rand.New(rand.NewSource(1)))) {
					out = append(out, tr.Params)
				}
				return out
			}
			// Different study ids: the seed alone decides.
			a, b := run(10), run(11)
			for i := range a {
				if !reflect.DeepEqual(a[i], b[i]) {
					t.Fatalf("trial %d differs:\n%v\n%v", i, a[i], b[i])
				}
			}
		})
	}
}

func TestUnseededStudiesDiffer(t *testing.T) {
	for _, typ := range []string{trials.SamplerTPE, trials.SamplerRandom, trials.SamplerCMAES} {
		t.Run(typ, func(t *testing.T) {
			src := newMemSource()
			tn := New(src)
			first := map[string]bool{}
			for id := int64(1); id <= 4; id++ {
				tr := ask(t, tn, src, newStudy(id, typ, knobs()))
				first[fmt.Sprint(tr.Params)] = true
			}
			if len(first) != 4 {
				t.Errorf("4 unseeded studies proposed %d distinct first trials", len(first))
			}
			// And a second trial of one study differs from its first.
			s := newStudy(1, typ, knobs())
			tr := ask(t, tn, src, s)
			if first[fmt.Sprint(tr.Params)] {
				t.Errorf("second trial repeats a first trial: %v", tr.Params)
			}
		})
	}
}

// seedHistory writes n complete trials drawn at random.
func seedHistory(t testing.TB, src *memSource, s *trials.Study, n int, seed int64, f func(map[string]any) float64) {
	t.Helper()
	tn := New(src)
	r := *s
	r.Sampler = trials.Sampler{Type: trials.SamplerRandom, Seed: ptr(seed)}
	optimize(t, tn, src, &r, n, f)
}

func TestConstantLiarSpreadsConcurrentAsks(t *testing.T) {
	space := trials.SearchSpace{
		"x": {Type: trials.Float, Low: -5, High: 5},
		"n": {Type: trials.Int, Low: 1, High: 8},
		"c": {Type: trials.Categorical, Choices: []any{"a", "b", "c"}},
	}
	f := func(p map[string]any) float64 { return math.Abs(p["x"].(float64) - 1) }
	for _, observe := range []bool{false, true} {
		t.Run(fmt.Sprintf("observe=%v", observe), func(t *testing.T) {
			src := newMemSource()
			s := newStudy(5, trials.SamplerTPE, space)
			s.Sampler.Seed = ptr(int64(9))
			seedHistory(t, src, s, 30, 1, f)
			tn := New(src)
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					prop, err := tn.Suggest(context.Background(), s)
					params := prop.Params
					if err != nil {
						t.Error(err)
						return
					}
					if observe {
						tr := src.createWith(s.ID, params, prop.SystemAttrs, trials.TrialRunning)
						tn.Bind(prop.Handle, &tr)
					}
					mu.Lock()
					got[fmt.Sprint(params)]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if len(got) != 8 {
				t.Errorf("8 concurrent asks got %d distinct proposals: %v", len(got), got)
			}
		})
	}
}

func TestRunningTrialsAreImputed(t *testing.T) {
	space := trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}}
	for _, dir := range []trials.Direction{trials.Minimize, trials.Maximize} {
		t.Run(string(dir), func(t *testing.T) {
			src := newMemSource()
			s := newStudy(1, trials.SamplerTPE, space)
			s.Objective.Direction = dir
			for i, v := range []float64{3, 1, 2} {
				tr := src.create(s.ID, map[string]any{"x": float64(i) / 10}, trials.TrialRunning)
				src.complete(tr.ID, v)
			}
			src.create(s.ID, map[string]any{"x": 0.9}, trials.TrialRunning)
			src.create(s.ID, map[string]any{"x": 0.8}, trials.TrialWaiting)
			failed := src.create(s.ID, map[string]any{"x": 0.7}, trials.TrialRunning)
			src.update(failed.ID, func(tr *trials.Trial) { tr.State = trials.TrialFailed })

			tn := New(src)
			st := tn.state(s.ID)
			sp, _ := newSpace(space)
			if err := tn.refresh(context.Background(), st, sp); err != nil {
				t.Fatal(err)
			}
			r := st.reserve(tn.now(), tn.pendingTTL)
			obs := newObservations(sp, r.snap.entries, [][]float64{{0.5}}, newJudge(s))
			values, scores, real, _ := obs.pairs("x")
			// The worst complete value, as TPE's score: 3 when minimizing,
			// -1 (sign-flipped 1) when maximizing.
			worst := 3.0
			if dir == trials.Maximize {
				worst = -1
			}
			wantValues := []float64{0, 0.1, 0.2, 0.9, 0.8, 0.5}
			if !reflect.DeepEqual(values, wantValues) {
				t.Errorf("values = %v, want %v", values, wantValues)
			}
			for i := 3; i < 6; i++ {
				if scores[i][1] != worst || !math.IsInf(scores[i][0], -1) {
					t.Errorf("row %d score %v, want imputed as complete with %v", i, scores[i], worst)
				}
			}
			if real != 3 {
				t.Errorf("real = %d, want 3 finished trials", real)
			}
		})
	}
}

// TestConstantLiarReachesTPE checks in-flight proposals reach TPE's
// history: with the same seed, TPE picks differently once 8 in-flight
// proposals are imputed. (TestConstantLiarSpreadsConcurrentAsks passes even
// without imputation, because every reservation also gets its own seed.)
// Imputed rows hold the worst value, so they join Goptuna's "above"
// density and raise gamma(n); Goptuna's scoring often ignores "above" (see
// tpeSampler), so the liar shifts picks rather than reliably repelling
// them.
func TestConstantLiarReachesTPE(t *testing.T) {
	space := trials.SearchSpace{"x": {Type: trials.Float, Low: -3, High: 5}}
	sp, _ := newSpace(space)
	src := newMemSource()
	s := newStudy(1, trials.SamplerTPE, space)
	r := rand.New(rand.NewSource(1))
	for range 40 {
		x := -3 + 8*r.Float64()
		tr := src.create(s.ID, map[string]any{"x": x}, trials.TrialRunning)
		src.complete(tr.ID, math.Pow(x-4, 2)+0.1*r.NormFloat64())
	}
	tn := New(src)
	st := tn.state(s.ID)
	if err := tn.refresh(context.Background(), st, sp); err != nil {
		t.Fatal(err)
	}
	res := st.reserve(tn.now(), tn.pendingTTL)
	inflight := make([][]float64, 8)
	for i := range inflight {
		inflight[i] = []float64{4}
	}
	differ := 0
	for seed := int64(1); seed <= 40; seed++ {
		pick := func(inflight [][]float64) float64 {
			v := &view{studyID: int(s.ID), name: s.Name, direction: direction(s), snap: res.snap, cap: &capture{}}
			v.obs = newObservations(sp, res.snap.entries, inflight, newJudge(s))
			study, err := goptuna.LoadStudy(s.Name, goptuna.StudyOptionStorage(v), goptuna.StudyOptionLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			x, err := newTPESampler(seed, seed+7, defaultStartupTrials, defaultEICandidates).Sample(study, goptuna.FrozenTrial{}, "x", sp.params[0].dist)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		if pick(nil) != pick(inflight) {
			differ++
		}
	}
	if differ < 20 {
		t.Errorf("imputing 8 in-flight proposals changed TPE's pick for %d of 40 seeds, want most", differ)
	}
}

// TestTPEBeatsRandom is the reason TPE is the default: on the five knobs
// with a clear optimum it must find better configurations than random
// search in the same budget. The start-up trials are shared (TPE's first 10
// are the same random draws), so only what TPE does after them counts.
func TestTPEBeatsRandom(t *testing.T) {
	const seeds, budget = 8, 60
	mean := func(typ string) float64 {
		sum := 0.0
		for seed := int64(1); seed <= seeds; seed++ {
			src := newMemSource()
			tn := New(src)
			s := newStudy(seed, typ, knobs())
			s.Sampler.Seed = ptr(seed)
			sum += best(optimize(t, tn, src, s, budget, knobLoss(rand.New(rand.NewSource(seed)))), trials.Minimize)
		}
		return sum / seeds
	}
	tpeBest, randomBest := mean(trials.SamplerTPE), mean(trials.SamplerRandom)
	t.Logf("mean best loss over %d seeds, %d trials: tpe %.3f, random %.3f", seeds, budget, tpeBest, randomBest)
	if !(tpeBest < randomBest) {
		t.Errorf("TPE's mean best %.3f is not better than random search's %.3f", tpeBest, randomBest)
	}
}

// TestCMAESMaximizes checks the direction reaches Goptuna's CMA-ES, which
// on its own always minimizes, and that its generations advance: the
// optimum is far from where CMA-ES starts, so only a sampler that learns
// from its generations (kept in the trials' system attrs) gets there.
func TestCMAESMaximizes(t *testing.T) {
	space := trials.SearchSpace{
		"x": {Type: trials.Float, Low: -1, High: 1},
		"y": {Type: trials.Float, Low: -1, High: 1},
	}
	src := newMemSource()
	tn := New(src)
	s := newStudy(7, trials.SamplerCMAES, space)
	s.Objective.Direction = trials.Maximize
	s.Sampler.Seed = ptr(int64(1))
	ts := optimize(t, tn, src, s, 120, func(p map[string]any) float64 {
		return -math.Pow(p["x"].(float64)-0.7, 2) - math.Pow(p["y"].(float64)+0.6, 2)
	})
	if b := best(ts, trials.Maximize); b < -0.001 {
		t.Errorf("best value %v after 120 trials, want > -0.001 near (0.7, -0.6)", b)
	}
	for _, tr := range ts[len(ts)-10:] {
		if d := math.Hypot(tr.Params["x"].(float64)-0.7, tr.Params["y"].(float64)+0.6); d > 0.15 {
			t.Errorf("late proposal %v is %.2f from the optimum: CMA-ES did not converge on it", tr.Params, d)
		}
	}
}

func TestIncrementalRefresh(t *testing.T) {
	src := newMemSource()
	s := newStudy(1, trials.SamplerTPE, knobs())
	seedHistory(t, src, s, 20, 1, knobLoss(rand.New(rand.NewSource(1))))

	tn := New(src)
	c0, r0, f0 := src.counts()
	ask(t, tn, src, s) // loads all 20, writes a 21st and observes it
	c1, r1, f1 := src.counts()
	if c1-c0 != 1 || r1-r0 != 20 || f1-f0 != 1 {
		t.Fatalf("first Suggest: %d calls, %d rows, %d full loads; want 1, 20, 1", c1-c0, r1-r0, f1-f0)
	}
	// Two trials change behind the tuner's back (another replica).
	a := src.create(s.ID, map[string]any{"learning_rate": 0.1, "batch_size": int64(32), "activation": "relu", "precision": "float32", "workers": int64(2)}, trials.TrialRunning)
	src.complete(a.ID, 1)
	if _, err := tn.Suggest(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	// The delta holds the other replica's trial and the one this tuner
	// wrote after its last read; nothing older.
	c2, r2, f2 := src.counts()
	if c2-c1 != 1 || r2-r1 != 2 || f2 != f1 {
		t.Errorf("second Suggest: %d calls, %d rows, %d full loads; want 1 call fetching the 2 changed trials", c2-c1, r2-r1, f2-f1)
	}
	st := tn.state(s.ID)
	st.mu.Lock()
	n, v := len(st.order), st.byID[a.ID].t.Value
	st.mu.Unlock()
	if n != 22 || v == nil || *v != 1 {
		t.Errorf("cache holds %d trials (want 22), changed trial value %v (want 1)", n, v)
	}

	// An older version than the cached one never replaces it.
	stale := a
	tn.Observe(&stale)
	st.mu.Lock()
	state := st.byID[a.ID].t.State
	st.mu.Unlock()
	if state != trials.TrialComplete {
		t.Errorf("a stale Observe replaced the trial: state %s", state)
	}

	tn.Forget(s.ID)
	if _, err := tn.Suggest(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, _, f3 := src.counts(); f3 != f2+1 {
		t.Errorf("after Forget the study was not loaded again from scratch")
	}
}

func TestRefreshInterval(t *testing.T) {
	src := newMemSource()
	s := newStudy(1, trials.SamplerRandom, knobs())
	tn := New(src, WithRefreshInterval(1<<40))
	optimize(t, tn, src, s, 5, func(map[string]any) float64 { return 0 })
	if calls, _, _ := src.counts(); calls != 1 {
		t.Errorf("%d reads of history with a long refresh interval, want 1 (Observe keeps the cache current)", calls)
	}
	st := tn.state(s.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.order) != 5 {
		t.Errorf("cache holds %d trials, want the 5 observed", len(st.order))
	}
}

func TestConcurrentUse(t *testing.T) {
	src := newMemSource()
	tn := New(src)
	studies := []*trials.Study{
		newStudy(1, trials.SamplerTPE, knobs()),
		newStudy(2, trials.SamplerCMAES, knobs()),
		newStudy(3, trials.SamplerQMC, knobs()),
	}
	studies[0].Pruner = trials.Pruner{Type: trials.PrunerMedian, StartupTrials: ptr(1)}
	studies[1].Pruner = trials.Pruner{Type: trials.PrunerSuccessiveHalving}
	f := knobLoss(rand.New(rand.NewSource(1)))
	var fmu sync.Mutex
	var wg sync.WaitGroup
	for w := range 12 {
		s := studies[w%len(studies)]
		wg.Go(func() {
			for range 8 {
				prop, err := tn.Suggest(context.Background(), s)
				params := prop.Params
				if err != nil {
					t.Error(err)
					return
				}
				tr := src.createWith(s.ID, params, prop.SystemAttrs, trials.TrialRunning)
				tn.Bind(prop.Handle, &tr)
				for step := range 3 {
					tr = src.report(tr.ID, step, float64(step))
					prune, attrs, err := tn.ShouldPrune(context.Background(), s, &tr)
					if err != nil {
						t.Error(err)
						return
					}
					if len(attrs) > 0 {
						tr = src.update(tr.ID, func(x *trials.Trial) {
							if x.SystemAttrs == nil {
								x.SystemAttrs = map[string]string{}
							}
							for k, v := range attrs {
								x.SystemAttrs[k] = v
							}
						})
					}
					if prune {
						break
					}
				}
				fmu.Lock()
				v := f(params)
				fmu.Unlock()
				done := src.complete(tr.ID, v)
				tn.Observe(&done)
			}
		})
	}
	wg.Wait()
}

// TestDegenerateRanges: single-valued params are legal; Goptuna's TPE
// would loop forever on a float one and CMA-ES derives its step size from
// the narrowest range.
func TestDegenerateRanges(t *testing.T) {
	space := trials.SearchSpace{
		"a": {Type: trials.Float, Low: 2, High: 2},
		"b": {Type: trials.Int, Low: 3, High: 3},
		"c": {Type: trials.Categorical, Choices: []any{"only"}},
		"d": {Type: trials.Int, Low: 5, High: 5, Log: true},
		"e": {Type: trials.Float, Low: 0, High: 0.05, Step: ptr(0.1)},
		"x": {Type: trials.Float, Low: 0, High: 1},
		"y": {Type: trials.Float, Low: 0, High: 1},
	}
	want := map[string]any{"a": 2.0, "b": int64(3), "c": "only", "d": int64(5), "e": 0.0}
	for _, typ := range samplerTypes {
		t.Run(typ, func(t *testing.T) {
			src := newMemSource()
			tn := New(src)
			s := newStudy(4, typ, space)
			for _, tr := range optimize(t, tn, src, s, 25, func(p map[string]any) float64 { return p["x"].(float64) }) {
				for k, v := range want {
					if tr.Params[k] != v {
						t.Fatalf("%s = %v (%T), want %v", k, tr.Params[k], tr.Params[k], v)
					}
				}
			}
		})
	}
}
