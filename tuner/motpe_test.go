package tuner

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// bruteRanks peels fronts by the definition: a point is on the front of
// what is left when nothing left dominates it.
func bruteRanks(pts [][]float64) []int {
	rank := make([]int, len(pts))
	for i := range rank {
		rank[i] = -1
	}
	for r, left := 0, len(pts); left > 0; r++ {
		var front []int
		for i := range pts {
			if rank[i] >= 0 {
				continue
			}
			dom := false
			for j := range pts {
				if rank[j] < 0 && dominates(pts[j], pts[i]) {
					dom = true
				}
			}
			if !dom {
				front = append(front, i)
			}
		}
		for _, i := range front {
			rank[i] = r
		}
		left -= len(front)
	}
	return rank
}

func gridPoints(rng *rand.Rand, n, d, side int) [][]float64 {
	pts := make([][]float64, n)
	for i := range pts {
		pts[i] = make([]float64, d)
		for k := range pts[i] {
			pts[i][k] = float64(rng.Intn(side))
		}
	}
	return pts
}

func TestParetoRanksMatchTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, d := range []int{2, 3, 4} {
		for trial := range 200 {
			// Few grid values: many ties and duplicates.
			pts := gridPoints(rng, 1+rng.Intn(40), d, 6)
			want := bruteRanks(pts)
			if got := paretoRanks(pts, len(pts)); !slices.Equal(got, want) {
				t.Fatalf("d=%d case %d: ranks %v, want %v for %v", d, trial, got, want, pts)
			}
			// Peeling stops once need points are ranked; those it ranks agree.
			need := 1 + rng.Intn(len(pts))
			got := paretoRanks(pts, need)
			ranked := 0
			for i, r := range got {
				if r >= 0 {
					ranked++
					if r != want[i] {
						t.Fatalf("d=%d need %d: rank %d of point %d, want %d", d, need, r, i, want[i])
					}
				}
			}
			if ranked < need {
				t.Fatalf("d=%d: %d ranked, need %d", d, ranked, need)
			}
		}
	}
}

// bruteHypervolume counts the unit cells of the grid below ref that some
// point dominates: exact for points on the integer grid.
func bruteHypervolume(pts [][]float64, ref []float64) float64 {
	d := len(ref)
	cell := make([]int, d)
	count := 0
	var walk func(k int)
	walk = func(k int) {
		if k == d {
			for _, p := range pts {
				in := true
				for i := range d {
					if p[i] > float64(cell[i]) {
						in = false
						break
					}
				}
				if in {
					count++
					return
				}
			}
			return
		}
		for c := 0; c < int(ref[k]); c++ {
			cell[k] = c
			walk(k + 1)
		}
	}
	walk(0)
	return float64(count)
}

func TestHypervolumeIsExact(t *testing.T) {
	// By hand: (1,3), (2,2), (3,1) under (4,4): 3 + 2 + 1 = 6.
	if got := hypervolume([][]float64{{1, 3}, {2, 2}, {3, 1}}, []float64{4, 4}); got != 6 {
		t.Errorf("hypervolume of the staircase %v, want 6", got)
	}
	// A point on or past the reference adds nothing.
	if got := hypervolume([][]float64{{4, 0}, {1, 5}}, []float64{4, 4}); got != 0 {
		t.Errorf("hypervolume of points outside %v, want 0", got)
	}
	rng := rand.New(rand.NewSource(2))
	for _, d := range []int{2, 3, 4} {
		for trial := range 100 {
			pts := gridPoints(rng, 1+rng.Intn(15), d, 7)
			ref := make([]float64, d)
			for i := range ref {
				ref[i] = 6
			}
			got, want := hypervolume(pts, ref), bruteHypervolume(pts, ref)
			if math.Abs(got-want) > 1e-9 {
				t.Fatalf("d=%d case %d: hypervolume %v, want %v for %v", d, trial, got, want, pts)
			}
		}
	}
}

func TestSelectByHypervolumeIsGreedy(t *testing.T) {
	// From the staircase (0,4) (1,2) (2,1) (4,0) under (5,5): alone, (1,2)
	// and (2,1) cover 12 each and the earlier wins; next to it (2,1) adds 3,
	// each end only 1.
	pts := [][]float64{{0, 4}, {1, 2}, {2, 1}, {4, 0}}
	got := selectByHypervolume(pts, 2, []float64{5, 5})
	if !slices.Equal(got, []int{1, 2}) {
		t.Errorf("picked %v, want [1 2]", got)
	}
	// Brute force over every pair: greedy's first pick is the best single.
	rng := rand.New(rand.NewSource(3))
	for range 50 {
		pts := gridPoints(rng, 8, 2, 10)
		ref := []float64{10, 10}
		first := selectByHypervolume(pts, 1, ref)[0]
		for i := range pts {
			if hypervolume(pts[i:i+1], ref) > hypervolume(pts[first:first+1], ref) {
				t.Fatalf("greedy picked %v, but %v covers more", pts[first], pts[i])
			}
		}
	}
}

// moHistory builds a two-objective history by hand: rows of one param x.
func moHistory(rows []moRow) *jointHistory {
	h := &jointHistory{names: []string{"x"}, multi: true}
	for _, r := range rows {
		score := [2]float64{}
		switch r.v {
		case seenInfeasible:
			score = [2]float64{math.Inf(1), 1}
			h.infeasible++
		case seenPruned:
			score = [2]float64{-float64(r.step), 0}
		}
		h.addKind([]float64{r.x}, r.v, r.values, score, r.v != seenRunning)
	}
	return h
}

type moRow struct {
	x      float64
	v      verdict
	values []float64
	step   int
}

func TestSplitMultiTakesFrontsAndLeavesRunningAndInfeasibleAbove(t *testing.T) {
	var rows []moRow
	// 20 complete trials on three fronts, 4 running ones better than all
	// (values a liar could not have), 3 infeasible, 3 pruned.
	for i := range 20 {
		f := float64(i % 3)
		rows = append(rows, moRow{x: float64(i), v: seenComplete, values: []float64{f + float64(i), f + float64(20-i)}})
	}
	for i := range 4 {
		rows = append(rows, moRow{x: 100 + float64(i), v: seenRunning})
	}
	for i := range 3 {
		rows = append(rows, moRow{x: 200 + float64(i), v: seenInfeasible})
		rows = append(rows, moRow{x: 300 + float64(i), v: seenPruned, step: i})
	}
	h := moHistory(rows)
	isBelow, w := h.split()
	nb := jointGamma(len(h.rows)) // 30 rows: ceil(4.5) = 5
	got := 0
	for i, b := range isBelow {
		if !b {
			continue
		}
		got++
		if h.kinds[i] != seenComplete {
			t.Errorf("row %d (%v) went below", i, h.kinds[i])
		}
	}
	if got != nb || len(w) != nb {
		t.Fatalf("%d below with %d weights, want %d", got, len(w), nb)
	}
	// Everything below is on the first front (the front has 7 points).
	pts := make([][]float64, 0, 20)
	for i := range 20 {
		pts = append(pts, h.values[i])
	}
	ranks := paretoRanks(pts, 20)
	for i := range 20 {
		if isBelow[i] && ranks[i] != 0 {
			t.Errorf("row %d of rank %d went below while the front has room", i, ranks[i])
		}
	}
	for _, x := range w {
		if !(x > 0 && x <= 1) {
			t.Errorf("weight %v outside (0, 1]", x)
		}
	}

	// With no complete trial the pruned ones fill the group (10 rows: 2),
	// deepest first; the infeasible ones still never go below.
	h = moHistory(rows[20:])
	isBelow, _ = h.split()
	for i, b := range isBelow {
		if b != (h.kinds[i] == seenPruned && h.rows[i][0] >= 301) {
			t.Errorf("row %v (%v): below %v", h.rows[i], h.kinds[i], b)
		}
	}
}

func TestSplitSingleKeepsInfeasibleAbove(t *testing.T) {
	h := &jointHistory{names: []string{"x"}}
	h.add([]float64{0}, [2]float64{math.Inf(1), 0.1}, true) // infeasible, small violation
	h.add([]float64{1}, [2]float64{math.Inf(1), 5}, true)
	h.infeasible = 2
	isBelow, _ := h.split()
	if slices.Contains(isBelow, true) {
		t.Errorf("an infeasible trial went below with no feasible one: %v", isBelow)
	}
	h.add([]float64{2}, [2]float64{math.Inf(-1), 9}, true) // feasible and bad
	isBelow, _ = h.split()
	if !slices.Equal(isBelow, []bool{false, false, true}) {
		t.Errorf("below %v, want only the feasible trial", isBelow)
	}
}

// The HPOBench MLP tables as two-objective problems for the sampler's
// tests: validation accuracy (maximized) and a cost that grows with the
// network, its hidden units (width × depth, bench/quality/data/README.md),
// minimized. The benchmark's own second objective, the parameter count,
// and its scoring live in bench/quality/mo.go, which also checks over HTTP
// that the multi-objective TPE beats random search.
var hpoWidths = []float64{16, 25, 40, 64, 101, 161, 256, 406, 645, 1024}

func hpoUnits(k int) float64 {
	return hpoWidths[k%10] * float64((k/100)%3+1)
}

// moRun runs one seeded study of budget trials one at a time (a constraint
// on the hidden units when bound > 0) and returns how many of its trials
// were feasible.
func (tb *hpoTable) moRun(t testing.TB, s *trials.Study, seed int64, budget int, bound float64) int {
	noise := rand.New(rand.NewSource(seed))
	src := newMemSource()
	tn := New(src)
	feasible := 0
	for range budget {
		tr := ask(t, tn, src, s)
		k := tb.config(tr.Params)
		runs := tb.runs[k]
		acc := runs[noise.Intn(len(runs))]
		count := hpoUnits(k)
		done := src.update(tr.ID, func(tr *trials.Trial) {
			tr.State = trials.TrialComplete
			tr.Metrics = map[string]float64{"accuracy": acc, "units": count}
			if !s.MultiObjective() {
				tr.Value = &acc
			}
		})
		tn.Observe(&done)
		if bound == 0 || count <= bound {
			feasible++
		}
	}
	return feasible
}

func moStudy(seed int64, sampler string, space trials.SearchSpace) *trials.Study {
	s := newStudy(seed, sampler, space)
	s.Objective = trials.Objective{}
	s.Objectives = []trials.Objective{{Metric: "accuracy", Direction: trials.Maximize}, {Metric: "units", Direction: trials.Minimize}}
	s.Sampler.Seed = ptr(seed)
	return s
}

// TestConstraintsSteer checks that a constraint on a measured metric (the
// hidden units, at most the table's lower quartile) makes TPE spend its
// trials where it holds: clearly more feasible trials than random search,
// with one objective and with two.
func TestConstraintsSteer(t *testing.T) {
	tb := loadHPOTable(t, "../bench/quality/data/hpobench/segment.csv.gz")
	const seeds, budget = 4, 60
	counts := make([]float64, 0, len(tb.means))
	for k := range tb.means {
		counts = append(counts, hpoUnits(k))
	}
	slices.Sort(counts)
	bound := counts[len(counts)/4]
	for _, multi := range []bool{false, true} {
		feasible := func(typ string) int {
			sum := 0
			for seed := int64(1); seed <= seeds; seed++ {
				s := moStudy(seed, typ, tb.space())
				if !multi {
					s.Objectives = nil
					s.Objective = trials.Objective{Metric: "accuracy", Direction: trials.Maximize}
				}
				s.Constraints = []trials.Constraint{{Metric: "units", Max: ptr(bound)}}
				n := tb.moRun(t, s, seed, budget, bound)
				sum += n
			}
			return sum
		}
		tpe, random := feasible(trials.SamplerTPE), feasible(trials.SamplerRandom)
		t.Logf("objectives multi=%v: feasible trials (units <= %.0f) over %d seeds × %d: tpe %d, random %d", multi, bound, seeds, budget, tpe, random)
		if !(float64(tpe) > 1.5*float64(random)) {
			t.Errorf("multi=%v: TPE ran %d feasible trials, not clearly more than random's %d", multi, tpe, random)
		}
	}
}

// TestInfeasibleFailuresSteer checks that failures of an infeasible kind
// (here: every configuration of the widest networks runs out of memory)
// teach TPE to avoid their region, while the same failures of kind error
// (which say nothing about the configuration) do not.
func TestInfeasibleFailuresSteer(t *testing.T) {
	tb := loadHPOTable(t, "../bench/quality/data/hpobench/segment.csv.gz")
	const seeds, budget = 4, 60
	failures := func(kind trials.FailureKind) int {
		sum := 0
		for seed := int64(1); seed <= seeds; seed++ {
			s := newStudy(seed, trials.SamplerTPE, tb.space())
			s.Objective.Direction = trials.Maximize
			s.Sampler.Seed = ptr(seed)
			noise := rand.New(rand.NewSource(seed))
			src := newMemSource()
			tn := New(src)
			for range budget {
				tr := ask(t, tn, src, s)
				k := tb.config(tr.Params)
				var done trials.Trial
				if k%10 >= 5 { // width >= 161: out of memory
					sum++
					done = src.update(tr.ID, func(tr *trials.Trial) {
						tr.State, tr.FailureKind, tr.Error = trials.TrialFailed, kind, "out of memory"
					})
				} else {
					done = src.complete(tr.ID, tb.runs[k][noise.Intn(len(tb.runs[k]))])
				}
				tn.Observe(&done)
			}
		}
		return sum
	}
	oom, errs := failures(trials.FailureOOM), failures(trials.FailureError)
	t.Logf("failed trials over %d seeds × %d: kind oom %d, kind error %d", seeds, budget, oom, errs)
	if !(float64(oom) < 0.7*float64(errs)) {
		t.Errorf("with oom failures TPE ran %d failing trials, not clearly fewer than %d with error failures", oom, errs)
	}
}

// TestMultiObjectiveIsReproducible checks that a seeded multi-objective
// study proposes the same params on every run when trials run one at a
// time, constraints and failures included.
func TestMultiObjectiveIsReproducible(t *testing.T) {
	tb := loadHPOTable(t, "../bench/quality/data/hpobench/segment.csv.gz")
	run := func() []string {
		s := moStudy(7, trials.SamplerTPE, tb.space())
		s.Constraints = []trials.Constraint{{Metric: "units", Max: ptr(400.0)}}
		src := newMemSource()
		tn := New(src)
		var out []string
		for i := range 40 {
			tr := ask(t, tn, src, s)
			k := tb.config(tr.Params)
			out = append(out, fmt.Sprint(k))
			done := src.update(tr.ID, func(tr *trials.Trial) {
				if i%7 == 3 {
					tr.State, tr.FailureKind = trials.TrialFailed, trials.FailureDiverged
					return
				}
				tr.State = trials.TrialComplete
				tr.Metrics = map[string]float64{"accuracy": tb.means[k], "units": hpoUnits(k)}
			})
			tn.Observe(&done)
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Errorf("two runs of one seeded study differ:\n%v\n%v", a, b)
	}
}

// moPruneStudy writes complete trials whose reports at each step carry
// both objectives (loss minimized, speed maximized): trial i reports loss
// 1+i and speed 10-i at every step.
func moPruneStudy(t *testing.T, n int, pruner trials.Pruner) (*Tuner, *memSource, *trials.Study) {
	t.Helper()
	src := newMemSource()
	s := newStudy(1, trials.SamplerRandom, trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}})
	s.Objective = trials.Objective{}
	s.Objectives = []trials.Objective{{Metric: "loss", Direction: trials.Minimize}, {Metric: "speed", Direction: trials.Maximize}}
	s.Pruner = pruner
	for i := range n {
		tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
		for step := range 4 {
			src.update(tr.ID, func(tr *trials.Trial) {
				tr.Intermediate = append(tr.Intermediate, trials.Intermediate{Step: step, Value: 1 + float64(i),
					Metrics: map[string]float64{"loss": 1 + float64(i), "speed": 10 - float64(i)}})
			})
		}
		src.update(tr.ID, func(tr *trials.Trial) {
			tr.State = trials.TrialComplete
			tr.Metrics = map[string]float64{"loss": 1 + float64(i), "speed": 10 - float64(i)}
		})
	}
	return New(src), src, s
}

// prunedAt reports the metrics one step at a time and returns the first
// step at which the tuner said prune, or -1.
func prunedAt(t *testing.T, tn *Tuner, src *memSource, s *trials.Study, reports []map[string]float64) int {
	t.Helper()
	tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
	for step, m := range reports {
		tr = src.update(tr.ID, func(tr *trials.Trial) {
			tr.Intermediate = append(tr.Intermediate, trials.Intermediate{Step: step, Value: m["loss"], Metrics: m})
		})
		prune, attrs, err := tn.ShouldPrune(context.Background(), s, &tr)
		if err != nil {
			t.Fatal(err)
		}
		if attrs != nil {
			t.Fatalf("dominance pruner returned attrs %v", attrs)
		}
		if prune {
			return step
		}
	}
	return -1
}

func TestMultiObjectivePruning(t *testing.T) {
	rep := func(loss, speed float64) map[string]float64 { return map[string]float64{"loss": loss, "speed": speed} }
	same := func(m map[string]float64) []map[string]float64 { return []map[string]float64{m, m, m, m} }
	// Six earlier trials: (loss, speed) = (1,10) (2,9) ... (6,5).
	cases := []struct {
		name    string
		pruner  trials.Pruner
		reports []map[string]float64
		want    int
	}{
		// Dominated by (1,10) (2,9) (3,8): 3 of 6, half.
		{"dominated by half", trials.Pruner{Type: trials.PrunerMedian}, same(rep(3.5, 7.5)), 0},
		// Dominated by (1,10) (2,9) only: 2 of 6.
		{"dominated by a third", trials.Pruner{Type: trials.PrunerMedian}, same(rep(2.5, 8.5)), -1},
		// Worse than all on loss, better than all on speed: a trade-off, kept.
		{"a trade-off", trials.Pruner{Type: trials.PrunerMedian}, same(rep(100, 100)), -1},
		// Better on speed for two steps, then dominated by all.
		{"falls behind", trials.Pruner{Type: trials.PrunerMedian}, []map[string]float64{rep(9, 20), rep(9, 20), rep(9, 1), rep(9, 1)}, 2},
		{"warm-up", trials.Pruner{Type: trials.PrunerMedian, WarmupSteps: ptr(3)}, same(rep(50, 0)), 3},
		{"interval", trials.Pruner{Type: trials.PrunerMedian, WarmupSteps: ptr(1), IntervalSteps: ptr(2)}, []map[string]float64{rep(50, 0), rep(1, 50), rep(50, 0), rep(50, 0)}, 3},
		{"start-up", trials.Pruner{Type: trials.PrunerMedian, StartupTrials: ptr(7)}, same(rep(50, 0)), -1},
		{"a report without an objective", trials.Pruner{Type: trials.PrunerMedian}, same(map[string]float64{"loss": 50}), -1},
		{"successive halving", trials.Pruner{Type: trials.PrunerSuccessiveHalving}, same(rep(50, 0)), -1},
		{"none", trials.Pruner{Type: trials.PrunerNone}, same(rep(50, 0)), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, src, s := moPruneStudy(t, 6, c.pruner)
			if got := prunedAt(t, tn, src, s, c.reports); got != c.want {
				t.Errorf("pruned at step %d, want %d", got, c.want)
			}
		})
	}
	t.Run("earlier trials without the objectives do not count", func(t *testing.T) {
		tn, src, s := moPruneStudy(t, 6, trials.Pruner{Type: trials.PrunerMedian})
		s.Objectives[1].Metric = "throughput" // no report carries it
		if got := prunedAt(t, tn, src, s, same(map[string]float64{"loss": 50, "throughput": 0})); got != -1 {
			t.Errorf("pruned at step %d against trials that reported no throughput", got)
		}
	})
}
