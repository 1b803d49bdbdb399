package tuner

import (
	"math"
	"testing"

	"github.com/c-bata/goptuna"
)

// runJointGoptuna optimizes a quadratic with jointTPE as the relative
// sampler of a plain Goptuna study (in-memory storage, its own history
// reading), one trial at a time.
func runJointGoptuna(t *testing.T, seed int64) []goptuna.FrozenTrial {
	t.Helper()
	study, err := goptuna.CreateStudy("joint",
		goptuna.StudyOptionLogger(nil),
		goptuna.StudyOptionSampler(newRandomSampler(seed)),
		goptuna.StudyOptionRelativeSampler(&jointTPE{seed: seed, startup: 5, candidates: 24}),
		// Goptuna's own intersection of spaces compares categorical
		// distributions with == and panics: the tuner always defines it.
		goptuna.StudyOptionDefineSearchSpace(map[string]any{
			"x":  goptuna.UniformDistribution{Low: -5, High: 5},
			"lr": goptuna.LogUniformDistribution{Low: 1e-5, High: 1},
			"n":  goptuna.IntUniformDistribution{Low: 0, High: 9},
			"c":  goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c"}},
		}))
	if err != nil {
		t.Fatal(err)
	}
	objective := func(tr goptuna.Trial) (float64, error) {
		x, err := tr.SuggestFloat("x", -5, 5)
		if err != nil {
			return 0, err
		}
		lr, err := tr.SuggestLogFloat("lr", 1e-5, 1)
		if err != nil {
			return 0, err
		}
		n, err := tr.SuggestInt("n", 0, 9)
		if err != nil {
			return 0, err
		}
		c, err := tr.SuggestCategorical("c", []string{"a", "b", "c"})
		if err != nil {
			return 0, err
		}
		v := (x-1)*(x-1) + math.Pow(math.Log10(lr)+3, 2) + float64((n-7)*(n-7))/4
		if c != "b" {
			v++
		}
		return v, nil
	}
	if err := study.Optimize(objective, 40); err != nil {
		t.Fatal(err)
	}
	all, err := study.GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestJointTPEIsAGoptunaSampler checks jointTPE on its own in a Goptuna
// study: a seed reproduces the study exactly, and it learns (its best beats
// the random start-up's).
func TestJointTPEIsAGoptunaSampler(t *testing.T) {
	a, b := runJointGoptuna(t, 7), runJointGoptuna(t, 7)
	for i := range a {
		for name, x := range a[i].InternalParams {
			if b[i].InternalParams[name] != x {
				t.Fatalf("trial %d param %s: %v then %v with the same seed", i, name, x, b[i].InternalParams[name])
			}
		}
	}
	startBest, best := math.Inf(1), math.Inf(1)
	for i, tr := range a {
		if i < 5 {
			startBest = math.Min(startBest, tr.Value)
		}
		best = math.Min(best, tr.Value)
	}
	if !(best < startBest/2) {
		t.Errorf("best %.3f after 40 trials, %.3f after the 5 random ones: jointTPE did not learn", best, startBest)
	}
}
