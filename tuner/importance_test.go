package tuner

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/tune-dev/tune/trials"
)

var importanceSpace = trials.SearchSpace{
	"learning_rate": {Type: trials.Float, Low: 1e-5, High: 1, Log: true},
	"batch_size":    {Type: trials.Int, Low: 16, High: 1024, Log: true},
	"workers":       {Type: trials.Int, Low: 1, High: 8},
	"activation":    {Type: trials.Categorical, Choices: []any{"relu", "tanh", "sigmoid", "leaky_relu"}},
	"dropout":       {Type: trials.Float, Low: 0, High: 0.5},
}

// randomTrials draws n complete trials uniformly (log params in log space)
// and scores them with f.
func randomTrials(r *rand.Rand, n int, f func(map[string]any) float64) []trials.Trial {
	out := make([]trials.Trial, n)
	for i := range out {
		p := map[string]any{
			"learning_rate": math.Exp(math.Log(1e-5) + r.Float64()*(math.Log(1)-math.Log(1e-5))),
			"batch_size":    int64(math.Round(math.Exp(math.Log(16) + r.Float64()*(math.Log(1024)-math.Log(16))))),
			"workers":       int64(1 + r.Intn(8)),
			"activation":    []string{"relu", "tanh", "sigmoid", "leaky_relu"}[r.Intn(4)],
			"dropout":       r.Float64() * 0.5,
		}
		v := f(p)
		out[i] = trials.Trial{Number: i, State: trials.TrialComplete, Params: p, Value: &v}
	}
	return out
}

func importanceOf(t *testing.T, imp *Importances, param string) float64 {
	t.Helper()
	for _, pi := range imp.Importances {
		if pi.Param == param {
			return pi.Importance
		}
	}
	t.Fatalf("no importance for %q in %+v", param, imp.Importances)
	return 0
}

func TestImportanceRanksTheDominantParamFirst(t *testing.T) {
	// The loss is mostly the distance of log10(learning_rate) from -3; the
	// activation matters a little, workers a trace; batch_size and dropout
	// not at all.
	loss := func(p map[string]any) float64 {
		lr := math.Log10(p["learning_rate"].(float64))
		v := (lr + 3) * (lr + 3)
		if p["activation"] == "relu" {
			v -= 0.3
		}
		return v + 0.001*float64(p["workers"].(int64))
	}
	for _, tc := range []struct {
		dir  trials.Direction
		sign float64
	}{{trials.Minimize, 1}, {trials.Maximize, -1}} {
		t.Run(string(tc.dir), func(t *testing.T) {
			ts := randomTrials(rand.New(rand.NewSource(3)), 400, func(p map[string]any) float64 { return tc.sign * loss(p) })
			imp, err := Importance(importanceSpace, tc.dir, ts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", imp)
			if imp.Method != "ped-anova" || imp.TrialsUsed != 400 || len(imp.Importances) != len(importanceSpace) {
				t.Fatalf("answer = %+v", imp)
			}
			if got := imp.Importances[0].Param; got != "learning_rate" {
				t.Errorf("most important param = %q, want learning_rate", got)
			}
			if v := importanceOf(t, imp, "learning_rate"); v < 0.6 {
				t.Errorf("learning_rate importance = %.3f, want it to dominate (> 0.6)", v)
			}
			for _, useless := range []string{"batch_size", "dropout"} {
				if v := importanceOf(t, imp, useless); v > 0.05 {
					t.Errorf("%s importance = %.3f, want near 0 for a param the objective ignores", useless, v)
				}
			}
			sum := 0.0
			for i, pi := range imp.Importances {
				sum += pi.Importance
				if i > 0 && pi.Importance > imp.Importances[i-1].Importance {
					t.Errorf("not sorted descending: %+v", imp.Importances)
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("importances sum to %v, want 1", sum)
			}
		})
	}
}

func TestImportanceOfCategoricalAndIntParams(t *testing.T) {
	for _, tc := range []struct {
		want string
		loss func(map[string]any) float64
	}{
		{"activation", func(p map[string]any) float64 {
			if p["activation"] == "tanh" {
				return 0
			}
			return 1 + 0.01*p["dropout"].(float64)
		}},
		{"batch_size", func(p map[string]any) float64 {
			return math.Abs(math.Log2(float64(p["batch_size"].(int64))) - 9)
		}},
		{"workers", func(p map[string]any) float64 { return float64(p["workers"].(int64)) }},
	} {
		t.Run(tc.want, func(t *testing.T) {
			imp, err := Importance(importanceSpace, trials.Minimize, randomTrials(rand.New(rand.NewSource(5)), 300, tc.loss))
			if err != nil {
				t.Fatal(err)
			}
			if got := imp.Importances[0].Param; got != tc.want {
				t.Errorf("most important param = %q, want %q: %+v", got, tc.want, imp.Importances)
			}
		})
	}
}

func TestImportanceNeedsTwoCompleteTrials(t *testing.T) {
	v := 1.0
	ts := []trials.Trial{
		{Number: 0, State: trials.TrialComplete, Value: &v, Params: map[string]any{"x": 0.5}},
		{Number: 1, State: trials.TrialPruned, Value: &v, Params: map[string]any{"x": 0.2}},
		{Number: 2, State: trials.TrialRunning, Params: map[string]any{"x": 0.1}},
	}
	space := trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}}
	if _, err := Importance(space, trials.Minimize, ts); !errors.Is(err, trials.ErrConflict) {
		t.Errorf("one complete trial: err = %v, want ErrConflict", err)
	}
	w := 2.0
	ts = append(ts, trials.Trial{Number: 3, State: trials.TrialComplete, Value: &w, Params: map[string]any{"x": 0.9}})
	imp, err := Importance(space, trials.Minimize, ts)
	if err != nil {
		t.Fatal(err)
	}
	if imp.TrialsUsed != 2 || len(imp.Importances) != 1 || imp.Importances[0].Importance != 1 {
		t.Errorf("two complete trials: %+v", imp)
	}
}

func TestImportanceOfConstantParamsIsZero(t *testing.T) {
	space := trials.SearchSpace{
		"fixed": {Type: trials.Int, Low: 4, High: 4},
		"one":   {Type: trials.Categorical, Choices: []any{"a"}},
	}
	var ts []trials.Trial
	for i := range 10 {
		v := float64(i)
		ts = append(ts, trials.Trial{Number: i, State: trials.TrialComplete, Value: &v, Params: map[string]any{"fixed": int64(4), "one": "a"}})
	}
	imp, err := Importance(space, trials.Minimize, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range imp.Importances {
		if pi.Importance != 0 || math.IsNaN(pi.Importance) {
			t.Errorf("%s importance = %v, want 0", pi.Param, pi.Importance)
		}
	}
}

func TestImportanceRespectsDirection(t *testing.T) {
	// tanh gives the lowest values and dropout orders the rest: the best
	// trials of a minimized study are told apart by activation, those of a
	// maximized one by dropout.
	f := func(p map[string]any) float64 {
		if p["activation"] == "tanh" {
			return -5
		}
		return p["dropout"].(float64)
	}
	for dir, want := range map[trials.Direction]string{trials.Minimize: "activation", trials.Maximize: "dropout"} {
		imp, err := Importance(importanceSpace, dir, randomTrials(rand.New(rand.NewSource(9)), 300, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := imp.Importances[0].Param; got != want {
			t.Errorf("%s: most important param = %q, want %q: %+v", dir, got, want, imp.Importances)
		}
	}
}
