package tuner

import (
	"cmp"
	"math"
	"slices"

	"github.com/tune-dev/tune/trials"
)

// ImportanceMethod names how Importance ranks params.
const ImportanceMethod = "ped-anova"

// TopQuantile is the share of complete trials, best first, whose params
// PED-ANOVA compares with all complete trials (Optuna's default, 0.1).
const TopQuantile = 0.1

// importanceGrid is how many points a numeric param's density is evaluated
// at; Optuna's PED-ANOVA uses 50 as well.
const importanceGrid = 50

// ParamImportance is one param's share of the study's variation.
type ParamImportance struct {
	Param      string  `json:"param"`
	Importance float64 `json:"importance"`
}

// Importances is what Importance answers.
type Importances struct {
	Method      string            `json:"method"`
	TrialsUsed  int               `json:"trials_used"`
	TopQuantile float64           `json:"top_quantile"`
	Importances []ParamImportance `json:"importances"`
}

// Importance ranks the params of a study's search space by how much they
// matter for its objective, with PED-ANOVA (Watanabe, Bansal and Hutter,
// "PED-ANOVA: Efficiently Quantifying Hyperparameter Importance in
// Arbitrary Subspaces", IJCAI 2023), the method behind Optuna's
// PedAnovaImportanceEvaluator. It was chosen over fANOVA because it needs
// no model: the importance of a param is the Pearson divergence between its
// density among the best TopQuantile of the complete trials and its density
// among all of them, a closed form that costs O(trials × grid) per param.
// A param whose good values are spread like all its values scores 0; one
// the best trials all agree on scores high.
//
// Densities are Parzen estimators (Gaussian kernels, Scott's bandwidth, and
// a uniform prior worth one trial) on a grid over the param's range, in log
// space for log params; int params with at most importanceGrid values use
// each value as a grid point; categorical params use their choice counts
// with the same prior. Importances are normalised to sum to 1 and sorted
// descending (ties by name); when no param separates the best trials from
// the rest they are all 0.
//
// Only complete trials with a value and every param count. At least two
// are needed: with fewer, Importance returns a trials.ErrConflict error.
func Importance(space trials.SearchSpace, dir trials.Direction, ts []trials.Trial) (*Importances, error) {
	names := space.Names()
	done := make([]*trials.Trial, 0, len(ts))
	for i := range ts {
		t := &ts[i]
		if t.State != trials.TrialComplete || t.Value == nil || !trials.Finite(*t.Value) || !hasParams(t, names) {
			continue
		}
		done = append(done, t)
	}
	if len(done) < 2 {
		return nil, trials.Conflictf("param importance needs at least 2 complete trials; the study has %d", len(done))
	}
	// Best first; ties by number keep the answer deterministic.
	slices.SortStableFunc(done, func(a, b *trials.Trial) int {
		switch {
		case dir.Better(*a.Value, *b.Value):
			return -1
		case dir.Better(*b.Value, *a.Value):
			return 1
		}
		return cmp.Compare(a.Number, b.Number)
	})
	nTop := max(2, int(math.Ceil(TopQuantile*float64(len(done)))))
	// The top set must be a proper subset or every divergence is 0.
	nTop = min(nTop, len(done)-1)

	out := &Importances{
		Method:      ImportanceMethod,
		TrialsUsed:  len(done),
		TopQuantile: TopQuantile,
		Importances: make([]ParamImportance, 0, len(names)),
	}
	total := 0.0
	for _, name := range names {
		d := space[name]
		var v float64
		if d.Type == trials.Categorical {
			v = categoricalDivergence(d, name, done, nTop)
		} else {
			v = numericDivergence(d, name, done, nTop)
		}
		total += v
		out.Importances = append(out.Importances, ParamImportance{Param: name, Importance: v})
	}
	if total > 0 {
		for i := range out.Importances {
			out.Importances[i].Importance /= total
		}
	}
	slices.SortStableFunc(out.Importances, func(a, b ParamImportance) int {
		if c := cmp.Compare(b.Importance, a.Importance); c != 0 {
			return c
		}
		return cmp.Compare(a.Param, b.Param)
	})
	return out, nil
}

func hasParams(t *trials.Trial, names []string) bool {
	for _, n := range names {
		if _, ok := t.Params[n]; !ok {
			return false
		}
	}
	return true
}

// pearson is the Pearson χ² divergence of top from all, two pmfs on the
// same support: Σ all·(top/all − 1)².
func pearson(top, all []float64) float64 {
	s := 0.0
	for i := range all {
		if all[i] > 0 {
			r := top[i]/all[i] - 1
			s += all[i] * r * r
		}
	}
	return s
}

func categoricalDivergence(d trials.Distribution, name string, done []*trials.Trial, nTop int) float64 {
	k := len(d.Choices)
	if k < 2 {
		return 0
	}
	pmf := func(ts []*trials.Trial) []float64 {
		p := make([]float64, k)
		for i := range p {
			p[i] = 1 / float64(k)
		}
		for _, t := range ts {
			if i, ok := d.ChoiceIndex(t.Params[name]); ok {
				p[i]++
			}
		}
		normalize(p)
		return p
	}
	return pearson(pmf(done[:nTop]), pmf(done))
}

func numericDivergence(d trials.Distribution, name string, done []*trials.Trial, nTop int) float64 {
	lo, hi := d.Low, d.High
	scale := func(x float64) float64 { return x }
	if d.Log {
		scale = math.Log
		if d.Type == trials.Int {
			// The rounding interval of each int, as the sampler sees it.
			lo, hi = lo-0.5, hi+0.5
		}
		lo, hi = math.Log(lo), math.Log(hi)
	}
	if !(hi > lo) {
		return 0
	}
	unit := func(x float64) float64 { return min(1, max(0, (scale(x)-lo)/(hi-lo))) }

	var grid []float64
	if n := d.High - d.Low + 1; d.Type == trials.Int && !d.Log && d.Step == nil && n <= importanceGrid {
		for v := d.Low; v <= d.High; v++ {
			grid = append(grid, unit(v))
		}
	} else {
		grid = make([]float64, importanceGrid)
		for i := range grid {
			grid[i] = float64(i) / float64(importanceGrid-1)
		}
	}
	xs := make([]float64, 0, len(done))
	for _, t := range done {
		v, ok := trials.Number(t.Params[name])
		if !ok {
			continue
		}
		xs = append(xs, unit(v))
	}
	if len(xs) != len(done) {
		return 0
	}
	// The bandwidth never falls below one grid cell, so that a top set whose
	// members share a value still has a density the grid can see.
	minBW := 1 / float64(len(grid)-1)
	return pearson(parzen(xs[:nTop], grid, minBW), parzen(xs, grid, minBW))
}

// parzen evaluates a Gaussian kernel density of xs (in [0, 1]) with Scott's
// bandwidth on grid and returns it as a pmf over the grid, mixed with a
// uniform prior that weighs as much as one observation.
func parzen(xs, grid []float64, minBW float64) []float64 {
	n := float64(len(xs))
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= n
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(v / max(1, n-1))
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	if iqr := (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / 1.34; iqr > 0 && iqr < sd {
		sd = iqr
	}
	bw := max(minBW, 1.059*sd*math.Pow(n, -0.2))

	p := make([]float64, len(grid))
	for i, g := range grid {
		for _, x := range xs {
			z := (g - x) / bw
			p[i] += math.Exp(-0.5 * z * z)
		}
	}
	normalize(p)
	for i := range p {
		p[i] = (p[i]*n + 1/float64(len(p))) / (n + 1)
	}
	return p
}

func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i]*(1-f) + sorted[i+1]*f
}

func normalize(p []float64) {
	s := 0.0
	for _, v := range p {
		s += v
	}
	if s == 0 {
		for i := range p {
			p[i] = 1 / float64(len(p))
		}
		return
	}
	for i := range p {
		p[i] /= s
	}
}
