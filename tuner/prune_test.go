package tuner

import (
	"context"
	"maps"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// curveStudy writes completed trials whose learning curves fall fast:
// value at step s is base[s] (+0.01 per trial), negated when maximizing.
func curveStudy(t *testing.T, dir trials.Direction, pruner trials.Pruner) (*Tuner, *memSource, *trials.Study) {
	t.Helper()
	src := newMemSource()
	s := newStudy(1, trials.SamplerRandom, trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}})
	s.Objective.Direction = dir
	s.Pruner = pruner
	base := []float64{1, 0.2, 0.1, 0.05, 0.04}
	for i := range 7 {
		tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
		for step, b := range base {
			tr = src.report(tr.ID, step, sign(dir)*(b+0.01*float64(i)))
		}
		src.complete(tr.ID, sign(dir)*(base[len(base)-1]+0.01*float64(i)))
	}
	return New(src), src, s
}

func sign(dir trials.Direction) float64 {
	if dir == trials.Maximize {
		return -1
	}
	return 1
}

// curve reports values (sign-adjusted) one step at a time and returns the
// first step at which the tuner said prune, or -1.
func curve(t *testing.T, tn *Tuner, src *memSource, s *trials.Study, values []float64) int {
	t.Helper()
	tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
	for step, v := range values {
		tr = src.report(tr.ID, step, sign(s.Objective.Direction)*v)
		prune, attrs, err := tn.ShouldPrune(context.Background(), s, &tr)
		if err != nil {
			t.Fatal(err)
		}
		if attrs != nil {
			t.Fatalf("median pruner returned attrs %v", attrs)
		}
		if prune {
			return step
		}
	}
	return -1
}

func TestMedianPruner(t *testing.T) {
	for _, dir := range []trials.Direction{trials.Minimize, trials.Maximize} {
		t.Run(string(dir), func(t *testing.T) {
			tn, src, s := curveStudy(t, dir, trials.Pruner{Type: trials.PrunerMedian})
			if got := curve(t, tn, src, s, []float64{5, 5, 5, 5}); got != 0 {
				t.Errorf("a clearly bad curve was pruned at step %d, want 0", got)
			}
			if got := curve(t, tn, src, s, []float64{0.9, 0.15, 0.08, 0.03}); got != -1 {
				t.Errorf("a good curve was pruned at step %d", got)
			}
			if got := curve(t, tn, src, s, []float64{0.9, 0.8, 0.7}); got != 1 {
				t.Errorf("a curve that stalls after a good start was pruned at step %d, want 1", got)
			}
		})
	}
}

func TestMedianPrunerKnobs(t *testing.T) {
	stalls := []float64{0.9, 0.8, 0.7, 0.6, 0.5}
	for _, tc := range []struct {
		name   string
		pruner trials.Pruner
		want   int
	}{
		{"warmup 3", trials.Pruner{Type: trials.PrunerMedian, WarmupSteps: ptr(3)}, 3},
		// Decisions at the first report in [0,3), [3,6): steps 0 and 3.
		{"interval 3", trials.Pruner{Type: trials.PrunerMedian, IntervalSteps: ptr(3)}, 3},
		{"warmup 1 interval 2", trials.Pruner{Type: trials.PrunerMedian, WarmupSteps: ptr(1), IntervalSteps: ptr(2)}, 1},
		// Fewer completed trials than startup_trials: never pruned.
		{"startup 8", trials.Pruner{Type: trials.PrunerMedian, StartupTrials: ptr(8)}, -1},
		{"startup 7", trials.Pruner{Type: trials.PrunerMedian, StartupTrials: ptr(7)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn, src, s := curveStudy(t, trials.Minimize, tc.pruner)
			if got := curve(t, tn, src, s, stalls); got != tc.want {
				t.Errorf("pruned at step %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSuccessiveHalving(t *testing.T) {
	for _, dir := range []trials.Direction{trials.Minimize, trials.Maximize} {
		t.Run(string(dir), func(t *testing.T) {
			src := newMemSource()
			s := newStudy(1, trials.SamplerRandom, trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}})
			s.Objective.Direction = dir
			s.Pruner = trials.Pruner{Type: trials.PrunerSuccessiveHalving, MinResource: ptr(1), ReductionFactor: ptr(2)}
			sg := sign(dir)
			// Four finished trials passed rung 0 with 1, 2, 3, 4.
			for i := 1; i <= 4; i++ {
				tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
				src.update(tr.ID, func(x *trials.Trial) {
					x.SystemAttrs = map[string]string{"completed_rung_0": trimFloat(sg * float64(i))}
				})
				src.complete(tr.ID, sg*float64(i))
			}
			tn := New(src)
			judge := func(v float64) (bool, map[string]string) {
				tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
				tr = src.report(tr.ID, 0, sg*v)
				// Step 0 is below min_resource: no rung yet.
				prune, attrs, err := tn.ShouldPrune(context.Background(), s, &tr)
				if err != nil || prune || attrs != nil {
					t.Fatalf("at step 0: prune %v attrs %v err %v; want nothing", prune, attrs, err)
				}
				tr = src.report(tr.ID, 1, sg*v)
				prune, attrs, err = tn.ShouldPrune(context.Background(), s, &tr)
				if err != nil {
					t.Fatal(err)
				}
				return prune, attrs
			}
			prune, attrs := judge(10)
			want := map[string]string{"completed_rung_0": trimFloat(sg * 10)}
			if !prune || !maps.Equal(attrs, want) {
				t.Errorf("bad trial: prune %v attrs %v; want true %v", prune, attrs, want)
			}
			prune, attrs = judge(0.5)
			want = map[string]string{"completed_rung_0": trimFloat(sg * 0.5)}
			if prune || !maps.Equal(attrs, want) {
				t.Errorf("good trial: prune %v attrs %v; want false %v", prune, attrs, want)
			}
		})
	}
}

func trimFloat(f float64) string {
	return map[float64]string{1: "1", 2: "2", 3: "3", 4: "4", -1: "-1", -2: "-2", -3: "-3", -4: "-4",
		10: "10", -10: "-10", 0.5: "0.5", -0.5: "-0.5"}[f]
}

func TestNoPruner(t *testing.T) {
	src := newMemSource()
	s := newStudy(1, trials.SamplerRandom, trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}})
	tn := New(src)
	tr := src.create(s.ID, map[string]any{"x": 0.5}, trials.TrialRunning)
	tr = src.report(tr.ID, 3, 1e9)
	prune, attrs, err := tn.ShouldPrune(context.Background(), s, &tr)
	if prune || attrs != nil || err != nil {
		t.Errorf("pruner none: prune %v attrs %v err %v", prune, attrs, err)
	}
	if calls, _, _ := src.counts(); calls != 0 {
		t.Errorf("pruner none read the history %d times", calls)
	}
}
