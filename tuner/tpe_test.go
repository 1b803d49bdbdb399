//go:debug randseednop=0

// The directive above lets rand.Seed seed math/rand's global source again:
// Goptuna's TPE draws part of its randomness from it, and comparing with it
// needs that stream fixed. Nothing outside this test reads the global
// source.

package tuner

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"

	"github.com/tune-dev/tune/trials"
)

type tpeCase struct {
	name       string
	dist       any
	draw       func(*rand.Rand) float64 // an internal value
	candidates int
}

func tpeCases() []tpeCase {
	ints := func(low, high int) func(*rand.Rand) float64 {
		return func(r *rand.Rand) float64 { return float64(low + r.Intn(high-low+1)) }
	}
	return []tpeCase{
		{"float", goptuna.UniformDistribution{Low: -3, High: 5}, func(r *rand.Rand) float64 { return -3 + 8*r.Float64() }, 24},
		{"log-float", goptuna.LogUniformDistribution{Low: 1e-5, High: 1}, func(r *rand.Rand) float64 { return math.Exp(math.Log(1e-5) * r.Float64()) }, 24},
		{"int", goptuna.IntUniformDistribution{Low: 1, High: 8}, ints(1, 8), 24},
		{"wide-int", goptuna.IntUniformDistribution{Low: 16, High: 1024}, ints(16, 1024), 24},
		// How the tuner maps an int param with log.
		{"log-int", goptuna.LogUniformDistribution{Low: 15.5, High: 1024.5}, func(r *rand.Rand) float64 { return math.Round(math.Exp(math.Log(16) + math.Log(64)*r.Float64())) }, 24},
		{"step-int", goptuna.StepIntUniformDistribution{Low: 0, High: 100, Step: 5}, func(r *rand.Rand) float64 { return float64(5 * r.Intn(21)) }, 24},
		{"step-float", goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.1}, func(r *rand.Rand) float64 { return float64(r.Intn(11)) / 10 }, 24},
		{"categorical", goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c", "d"}}, func(r *rand.Rand) float64 { return float64(r.Intn(4)) }, 24},
		// Histories away from the low end keep Goptuna's paccept positive,
		// so every candidate is scored rather than the first one kept.
		{"float-high", goptuna.UniformDistribution{Low: -3, High: 5}, func(r *rand.Rand) float64 { return 3 + 2*r.Float64() }, 24},
		{"log-float-high", goptuna.LogUniformDistribution{Low: 1e-5, High: 1}, func(r *rand.Rand) float64 { return math.Exp(math.Log(1e-2) * r.Float64()) }, 24},
		{"int-high", goptuna.IntUniformDistribution{Low: 1, High: 8}, ints(6, 8), 24},
		{"wide-int-high", goptuna.IntUniformDistribution{Low: 16, High: 1024}, ints(700, 1024), 24},
		// As many candidates as choices: sampled from the below density.
		{"categorical-sampled", goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c", "d"}}, func(r *rand.Rand) float64 { return float64(r.Intn(4)) }, 4},
	}
}

// goptunaHistory is a Goptuna in-memory study holding n finished trials of
// one param (a few of them pruned) and one new running trial.
func goptunaHistory(t *testing.T, c tpeCase, n int, dir goptuna.StudyDirection, seed int64) (*goptuna.Study, goptuna.FrozenTrial) {
	t.Helper()
	study, err := goptuna.CreateStudy("h", goptuna.StudyOptionDirection(dir), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(seed))
	st := study.Storage
	for i := range n {
		id, _ := st.CreateNewTrial(study.ID)
		x := c.draw(r)
		if err := st.SetTrialParam(id, "p", x, c.dist); err != nil {
			t.Fatal(err)
		}
		// A smooth objective with a minimum inside the range, plus noise.
		v := math.Sin(3*x/(1+math.Abs(x))) + 0.3*r.NormFloat64()
		if i%7 == 3 {
			for step := 1; step <= 1+r.Intn(3); step++ {
				_ = st.SetTrialIntermediateValue(id, step, v+float64(step))
			}
			_ = st.SetTrialState(id, goptuna.TrialStatePruned)
			continue
		}
		_ = st.SetTrialValue(id, v)
		_ = st.SetTrialState(id, goptuna.TrialStateComplete)
	}
	id, _ := st.CreateNewTrial(study.ID)
	trial, _ := st.GetTrial(id)
	return study, trial
}

// TestTPEMatchesGoptuna runs Goptuna's tpe.Sampler and the tuner's on the
// same history and random streams: they must pick the same values.
func TestTPEMatchesGoptuna(t *testing.T) {
	for _, c := range tpeCases() {
		for _, n := range []int{12, 60, 400} {
			for _, dir := range []goptuna.StudyDirection{goptuna.StudyDirectionMinimize, goptuna.StudyDirectionMaximize} {
				t.Run(fmt.Sprintf("%s/n=%d/%s", c.name, n, dir), func(t *testing.T) {
					for seed := int64(1); seed <= 6; seed++ {
						study, trial := goptunaHistory(t, c, n, dir, seed)
						pick := seed * 1000

						rand.Seed(pick)
						want, err := tpe.NewSampler(
							tpe.SamplerOptionSeed(seed),
							tpe.SamplerOptionNumberOfEICandidates(c.candidates),
						).Sample(study, trial, "p", c.dist)
						if err != nil {
							t.Fatal(err)
						}
						got, err := newTPESampler(seed, pick, defaultStartupTrials, c.candidates).Sample(study, trial, "p", c.dist)
						if err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Errorf("seed %d: tuner picked %v, goptuna %v", seed, got, want)
						}
					}
				})
			}
		}
	}
}

// TestTPEFastPathMatchesGoptunaPath checks the history the tuner hands TPE
// (observations over the cached entries) gives the same picks as TPE reading
// the same trials through goptuna.Storage the way Goptuna does.
func TestTPEFastPathMatchesGoptunaPath(t *testing.T) {
	space := trials.SearchSpace{
		"lr":  {Type: trials.Float, Low: 1e-5, High: 1, Log: true},
		"bs":  {Type: trials.Int, Low: 16, High: 1024, Log: true},
		"n":   {Type: trials.Int, Low: 0, High: 20, Step: ptr(5.0)},
		"d":   {Type: trials.Float, Low: 0, High: 0.5, Step: ptr(0.05)},
		"act": {Type: trials.Categorical, Choices: []any{"relu", 2.5, true}},
	}
	sp, err := newSpace(space)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []trials.Direction{trials.Minimize, trials.Maximize} {
		src := newMemSource()
		s := newStudy(1, trials.SamplerTPE, space)
		s.Objective.Direction = dir
		seedHistory(t, src, s, 150, 3, func(p map[string]any) float64 {
			return math.Log10(p["lr"].(float64)) + float64(p["n"].(int64))/10
		})
		// Some pruned trials rank by their last step.
		for i := range 10 {
			tr := ask(t, New(src), src, s)
			for step := range i % 4 {
				tr = src.report(tr.ID, step, float64(i))
			}
			src.update(tr.ID, func(x *trials.Trial) { x.State = trials.TrialPruned })
		}
		tn := New(src)
		st := tn.state(s.ID)
		if err := tn.refresh(t.Context(), st, sp); err != nil {
			t.Fatal(err)
		}
		r := st.reserve(tn.now(), tn.pendingTTL)
		for _, p := range sp.params {
			for seed := int64(1); seed <= 5; seed++ {
				pick := func(withObs bool) float64 {
					v := &view{studyID: int(s.ID), name: s.Name, direction: direction(s), snap: r.snap, cap: &capture{}}
					if withObs {
						v.obs = newObservations(sp, r.snap.entries, nil, newJudge(s))
					}
					study, err := goptuna.LoadStudy(s.Name, goptuna.StudyOptionStorage(v), goptuna.StudyOptionLogger(nil))
					if err != nil {
						t.Fatal(err)
					}
					x, err := newTPESampler(seed, seed+1, 10, 24).Sample(study, goptuna.FrozenTrial{}, p.name, p.dist)
					if err != nil {
						t.Fatal(err)
					}
					return x
				}
				if fast, slow := pick(true), pick(false); fast != slow {
					t.Errorf("%s %s seed %d: fast path %v, storage path %v", dir, p.name, seed, fast, slow)
				}
			}
		}
	}
}

func TestSplitBelowAboveIsStable(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for trial := range 200 {
		n := 1 + r.Intn(300)
		values := make([]float64, n)
		scores := make([][2]float64, n)
		for i := range values {
			values[i] = float64(i)
			// Many ties, and pruned-style scores.
			scores[i] = [2]float64{math.Inf(-1), float64(r.Intn(5))}
			if r.Intn(4) == 0 {
				scores[i] = [2]float64{-float64(r.Intn(3)), float64(r.Intn(5))}
			}
		}
		nbelow := tpe.DefaultGamma(n)
		below, above := splitBelowAbove(values, scores, nbelow)
		// Reference: stable sort as Goptuna's splitObservationPairs.
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		wantBelow := map[float64]bool{}
		sorted := append([]int(nil), idx...)
		stableSortByScore(sorted, scores)
		for _, i := range sorted[:nbelow] {
			wantBelow[values[i]] = true
		}
		if len(below) != nbelow || len(above) != n-nbelow {
			t.Fatalf("case %d: %d below, %d above; want %d, %d", trial, len(below), len(above), nbelow, n-nbelow)
		}
		for i, v := range below {
			if !wantBelow[v] || (i > 0 && below[i-1] > v) {
				t.Fatalf("case %d: below %v is not the stable best %d in trial order", trial, below, nbelow)
			}
		}
	}
}

func stableSortByScore(idx []int, scores [][2]float64) {
	// Insertion sort: stable by construction.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0; j-- {
			a, b := scores[idx[j]], scores[idx[j-1]]
			less := a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
			if !less {
				break
			}
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
}

// TestViewErrorsAreGoptunaSentinels: Goptuna compares them with ==.
func TestViewErrorsAreGoptunaSentinels(t *testing.T) {
	v := &view{studyID: 1, name: "s", direction: goptuna.StudyDirectionMinimize, snap: &history{}, cap: &capture{internal: map[string]float64{}, attrs: map[string]string{}}}
	if _, err := v.GetTrial(99); err != goptuna.ErrInvalidTrialID {
		t.Errorf("GetTrial(unknown) = %v, want goptuna.ErrInvalidTrialID", err)
	}
	if _, err := v.GetBestTrial(1); err != goptuna.ErrNoCompletedTrials {
		t.Errorf("GetBestTrial(no trials) = %v, want goptuna.ErrNoCompletedTrials", err)
	}
	if _, err := v.GetAllTrials(2); err != goptuna.ErrInvalidStudyID {
		t.Errorf("GetAllTrials(other study) = %v, want goptuna.ErrInvalidStudyID", err)
	}
	if err := v.SetTrialSystemAttr(5, "k", "v"); err != goptuna.ErrInvalidTrialID {
		t.Errorf("SetTrialSystemAttr(not the target) = %v, want goptuna.ErrInvalidTrialID", err)
	}
}
