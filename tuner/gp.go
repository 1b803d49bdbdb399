package tuner

import (
	"math"
	"math/rand"
	"slices"
	"sort"

	"github.com/c-bata/goptuna"
	"gonum.org/v1/gonum/floats"

	"github.com/tune-dev/tune/trials"
)

// gpSampler is Bayesian optimization with a Gaussian process, after
// Optuna's GPSampler: every param is mapped into [0, 1] (log params in log
// space, int and stepped params onto their grid, widened by half a step on
// each side), categorical params enter the kernel by Hamming distance; the
// kernel is Matérn 5/2 with one length scale per param (ARD), fitted with
// its scale and the noise by maximizing the log marginal likelihood plus
// Optuna's weak priors. Unlike Optuna, values enter as the normal scores of
// their ranks (a few diverged or chance-level trials would otherwise
// squash the differences among the good ones), and expected improvement is
// measured from the best posterior mean at a trial rather than the best
// value seen, which noise biases low. The next trial maximizes log
// expected improvement over random candidates, then a coordinate-wise
// local search on the grid from the best of them and from the best trials.
// Configurations already tried or in flight are passed over while another
// is left, as the joint TPE does.
//
// Running trials and in-flight proposals enter as a Kriging believer: the
// GP is conditioned on them at its own posterior mean, which leaves the
// mean where it was and shrinks the uncertainty (and so the expected
// improvement) around them, so W parallel asks spread out instead of
// piling onto one optimum.
//
// The fitted hyperparameters are kept between asks (the sampler lives in
// the study's cache, as CMA-ES does) and the next fit starts from them, so
// a fit costs a few L-BFGS steps. A GP costs O(n³) in the trials it is
// conditioned on: beyond gpMaxRows it takes the best half and the most
// recent ones.
//
// It is a goptuna.RelativeSampler: start-up trials (and params it cannot
// place) are left to the study's independent sampler.
type gpSampler struct {
	seed    int64
	startup int
	// in is the input of the next SampleRelative, set by the tuner.
	in gpInput
	// theta is the last fitted hyperparameters (log inverse squared length
	// scales, log kernel scale, log noise); nil before the first fit.
	theta []float64
	// fitAt is how many trials the GP had when theta was fitted.
	fitAt int
}

var _ goptuna.RelativeSampler = (*gpSampler)(nil)

// gpInput is what one proposal is computed from.
type gpInput struct {
	dims []gpDim
	// names are the dims' params.
	names []string
	// rows are finished trials (unit space, active dims), scores their
	// values (lower is better); pending rows are running or in flight.
	rows    [][]float64
	scores  []float64
	pending [][]float64
	// seen holds the keys of every configuration tried or in flight.
	seen   map[uint64]struct{}
	number int
	ok     bool
}

// gpKnobs are choices TestScreenSamplers can screen (TUNE_KNOBS "gp ...").
type gpKnobsT struct {
	warp       bool    // rank-normal scores instead of standardized values
	plugin     bool    // EI's incumbent: the best posterior mean at a trial, not the best value
	kbWorst    bool    // pending points at the worst value instead of the mean
	lcb        float64 // > 0: lower confidence bound with this beta instead of EI
	exploit    int     // > 0: from this trial number on, the posterior mean alone
	xi         float64 // EI's margin below the incumbent
	noiseRate  float64 // rate of the noise variance's Gamma(1.1, rate) prior
	noiseFloor float64 // the noise variance's floor
}

// Both on: over 6 seeds of the five noisy HPOBench tables (W = 1 and 8)
// either alone was worse than the joint TPE, together better (0.138
// against 0.148 at W = 1, 0.153 against 0.168 at W = 8); see bench/README.md.
var gpKnobs = gpKnobsT{warp: true, plugin: true, noiseRate: 30, noiseFloor: gpMinNoise}

// gpMaxRows bounds the finished trials a GP is conditioned on.
const gpMaxRows = 200

// gpCandidates is how many random candidates the acquisition is scored on
// before the local search.
const gpCandidates = 1024

// gpMinNoise is the noise variance's floor (of standardized values): it
// keeps the kernel matrix well conditioned.
const gpMinNoise = 1e-6

const (
	gpCont = iota // continuous: u in [0, 1]
	gpGrid        // ints and stepped floats: m grid points
	gpCat         // categorical: the choice index
)

// gpDim maps one param between its internal value and the unit cube.
type gpDim struct {
	param  int // index in the space
	kind   int
	n      int     // grid points or choices
	log    bool    // the unit coordinate is linear in log(x)
	lo, hi float64 // unit = (f(x)-lo)/(hi-lo), f = log or identity
	low    float64 // grid: internal = low + k·step (not for log ints)
	step   float64
	logInt bool // an int param on a log scale: the grid is every int
}

// gpDims builds the active dims of a space; single-valued params are left
// out (the independent sampler returns their one value).
func gpDims(sp *space) []gpDim {
	var dims []gpDim
	for i, p := range sp.params {
		d := p.d
		g := gpDim{param: i}
		switch {
		case d.Type == trials.Categorical:
			g.kind, g.n = gpCat, len(d.Choices)
		case d.Type == trials.Int && d.Log:
			g.kind, g.logInt, g.log = gpGrid, true, true
			g.n = int(d.High-d.Low) + 1
			g.low, g.step = d.Low, 1
			g.lo, g.hi = math.Log(d.Low-0.5), math.Log(d.High+0.5)
		case d.Type == trials.Int || d.Step != nil:
			step := 1.0
			if d.Step != nil {
				step = *d.Step
			}
			last := math.Floor((d.High-d.Low)/step + 1e-9)
			g.kind, g.n, g.low, g.step = gpGrid, int(last)+1, d.Low, step
			g.lo, g.hi = d.Low-step/2, d.Low+last*step+step/2
		case d.Log:
			g.kind, g.log, g.lo, g.hi = gpCont, true, math.Log(d.Low), math.Log(d.High)
		default:
			g.kind, g.lo, g.hi = gpCont, d.Low, d.High
		}
		if g.n == 1 || (g.kind == gpCont && g.lo == g.hi) {
			continue
		}
		dims = append(dims, g)
	}
	return dims
}

// unit maps an internal value to the dim's coordinate.
func (g gpDim) unit(x float64) float64 {
	if g.kind == gpCat {
		return x
	}
	if g.log {
		x = math.Log(x)
	}
	return math.Max(0, math.Min(1, (x-g.lo)/(g.hi-g.lo)))
}

// internal maps a coordinate back to the nearest internal value the param
// can take.
func (g gpDim) internal(u float64) float64 {
	if g.kind == gpCat {
		return math.Max(0, math.Min(float64(g.n-1), math.Round(u)))
	}
	u = math.Max(0, math.Min(1, u))
	x := g.lo + u*(g.hi-g.lo)
	if g.log {
		x = math.Exp(x)
	}
	if g.kind == gpGrid {
		k := math.Max(0, math.Min(float64(g.n-1), math.Round((x-g.low)/g.step)))
		x = g.low + k*g.step
	}
	return x
}

// snap puts a coordinate onto the param's grid (a no-op for continuous).
func (g gpDim) snap(u float64) float64 {
	if g.kind == gpCont {
		return math.Max(0, math.Min(1, u))
	}
	return g.unit(g.internal(u))
}

// gpKey identifies a configuration by its coordinates (snapped).
func gpKey(x []float64) uint64 {
	h := uint64(0x6770_6b65_79)
	for _, v := range x {
		h = splitmix64(h ^ math.Float64bits(v+0))
	}
	return h
}

// newGPInput gathers the rows from the tuner's cache: complete trials with
// their values, pruned ones at the worst complete value (they were stopped
// for being bad), running ones and in-flight proposals as pending.
func newGPInput(sp *space, snap []*entry, inflight [][]float64, dir goptuna.StudyDirection, number int) gpInput {
	sign := 1.0
	if dir == goptuna.StudyDirectionMaximize {
		sign = -1
	}
	in := gpInput{dims: gpDims(sp), number: number, seen: make(map[uint64]struct{}, len(snap)+len(inflight))}
	for _, g := range in.dims {
		in.names = append(in.names, sp.params[g.param].name)
	}
	row := func(internal []float64) []float64 {
		x := make([]float64, len(in.dims))
		for j, g := range in.dims {
			x[j] = g.snap(g.unit(internal[g.param]))
		}
		in.seen[gpKey(x)] = struct{}{}
		return x
	}
	worst, haveWorst := math.Inf(-1), false
	for _, e := range snap {
		if e.t.State == trials.TrialComplete && e.t.Value != nil && !slices.Contains(e.has, false) {
			v := sign * *e.t.Value
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				worst, haveWorst = math.Max(worst, v), true
			}
		}
	}
	type done struct {
		x []float64
		v float64
	}
	var finished []done
	for _, e := range snap {
		if slices.Contains(e.has, false) {
			continue
		}
		switch e.t.State {
		case trials.TrialComplete:
			if e.t.Value == nil {
				continue
			}
			v := sign * *e.t.Value
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			finished = append(finished, done{row(e.internal), v})
		case trials.TrialPruned:
			if haveWorst {
				finished = append(finished, done{row(e.internal), worst})
			}
		case trials.TrialRunning, trials.TrialWaiting:
			if len(e.t.Params) > 0 {
				in.pending = append(in.pending, row(e.internal))
			}
		}
	}
	for _, internal := range inflight {
		in.pending = append(in.pending, row(internal))
	}
	if len(finished) > gpMaxRows {
		// The best half and the most recent others.
		order := make([]int, len(finished))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return finished[order[a]].v < finished[order[b]].v })
		keep := make([]bool, len(finished))
		for _, i := range order[:gpMaxRows/2] {
			keep[i] = true
		}
		left := gpMaxRows - gpMaxRows/2
		for i := len(finished) - 1; i >= 0 && left > 0; i-- {
			if !keep[i] {
				keep[i] = true
				left--
			}
		}
		kept := finished[:0]
		for i, f := range finished {
			if keep[i] {
				kept = append(kept, f)
			}
		}
		finished = kept
	}
	if len(in.pending) > gpMaxRows {
		in.pending = in.pending[len(in.pending)-gpMaxRows:]
	}
	for _, f := range finished {
		in.rows = append(in.rows, f.x)
		in.scores = append(in.scores, f.v)
	}
	in.ok = true
	return in
}

// SampleRelative implements goptuna.RelativeSampler over the input the
// tuner set; it returns nil (the independent sampler decides) during
// start-up or when the space has nothing to model.
func (s *gpSampler) SampleRelative(_ *goptuna.Study, _ goptuna.FrozenTrial, _ map[string]any) (map[string]float64, error) {
	in := s.in
	s.in = gpInput{}
	if !in.ok || len(in.dims) == 0 || len(in.rows) < max(1, s.startup) {
		return nil, nil
	}
	x := s.next(in)
	if x == nil {
		return nil, nil
	}
	return in.internals(x), nil
}

// internals maps a point to the params' internal values, keyed by name.
func (in gpInput) internals(x []float64) map[string]float64 {
	out := make(map[string]float64, len(in.dims))
	for j, g := range in.dims {
		out[in.names[j]] = g.internal(x[j])
	}
	return out
}

// next fits the GP and returns the point that maximizes the acquisition.
func (s *gpSampler) next(in gpInput) []float64 {
	d := len(in.dims)
	cat := make([]bool, d)
	for j, g := range in.dims {
		cat[j] = g.kind == gpCat
	}
	y := standardize(in.scores)
	if gpKnobs.warp {
		y = normalScores(in.scores)
	}
	n := len(in.rows)
	if s.theta == nil || len(s.theta) != d+2 || n != s.fitAt && (n < 30 || n >= s.fitAt+s.fitAt/10) {
		init := s.theta
		if len(init) != d+2 {
			init = gpDefaultTheta(d)
		}
		s.theta = gpFit(in.rows, y, cat, init)
		s.fitAt = n
	}
	post := newGPPosterior(in.rows, y, cat, s.theta)
	if post == nil {
		return nil
	}
	best := math.Inf(1)
	worst := math.Inf(-1)
	for i, v := range y {
		if gpKnobs.plugin {
			v, _ = post.predict(in.rows[i])
		}
		best = math.Min(best, v)
		worst = math.Max(worst, y[i])
	}
	if len(in.pending) > 0 {
		// Kriging believer: the pending points at the posterior mean.
		xs := append(slices.Clone(in.rows), in.pending...)
		ys := slices.Clone(y)
		for _, p := range in.pending {
			m, _ := post.predict(p)
			if gpKnobs.kbWorst {
				m = worst
			}
			ys = append(ys, m)
		}
		if kb := newGPPosterior(xs, ys, cat, s.theta); kb != nil {
			post = kb
		}
	}
	rng := rand.New(rand.NewSource(int64(splitmix64(uint64(s.seed) ^ splitmix64(uint64(in.number)^0x4750)))))
	acq := func(x []float64) float64 {
		m, v := post.predict(x)
		if gpKnobs.exploit > 0 && in.number >= gpKnobs.exploit {
			return -m
		}
		if gpKnobs.lcb > 0 {
			return -(m - gpKnobs.lcb*math.Sqrt(v))
		}
		return logEI(m, v, best-gpKnobs.xi)
	}
	return optimizeAcq(in, acq, rng)
}

// optimizeAcq maximizes acq over the space: random candidates, then
// coordinate-wise local search from the best candidates and the best
// trials. Points already tried or in flight lose to any new one.
func optimizeAcq(in gpInput, acq func([]float64) float64, rng *rand.Rand) []float64 {
	d := len(in.dims)
	var bestX []float64
	bestA, bestNew := math.Inf(-1), false
	consider := func(x []float64, a float64) {
		if math.IsNaN(a) {
			a = math.Inf(-1)
		}
		_, dup := in.seen[gpKey(x)]
		if bestX == nil || (!dup && !bestNew) || (!dup == bestNew && a > bestA) {
			bestX, bestA, bestNew = slices.Clone(x), a, !dup
		}
	}
	type scored struct {
		x []float64
		a float64
	}
	cands := make([]scored, 0, gpCandidates)
	for range gpCandidates {
		x := make([]float64, d)
		for j, g := range in.dims {
			if g.kind == gpCat {
				x[j] = float64(rng.Intn(g.n))
			} else {
				x[j] = g.snap(rng.Float64())
			}
		}
		a := acq(x)
		consider(x, a)
		cands = append(cands, scored{x, a})
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].a > cands[b].a })
	starts := make([][]float64, 0, 8)
	for i := 0; i < len(cands) && i < 5; i++ {
		starts = append(starts, cands[i].x)
	}
	// The best trials: the optimum is often next to one of them.
	order := make([]int, len(in.rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return in.scores[order[a]] < in.scores[order[b]] })
	for i := 0; i < len(order) && i < 3; i++ {
		starts = append(starts, in.rows[order[i]])
	}
	steps := []float64{0.02, 0.1, 0.25}
	for _, start := range starts {
		x := slices.Clone(start)
		a := acq(x)
		for sweep := 0; sweep < 10; sweep++ {
			moved := false
			for j, g := range in.dims {
				try := func(v float64) {
					if v == x[j] {
						return
					}
					old := x[j]
					x[j] = v
					b := acq(x)
					consider(x, b)
					if b > a {
						a, moved = b, true
					} else {
						x[j] = old
					}
				}
				if g.kind == gpCat || (g.kind == gpGrid && g.n <= 16) {
					for k := range g.n {
						if g.kind == gpCat {
							try(float64(k))
						} else {
							try(g.unit(g.low + float64(k)*g.step))
						}
					}
					continue
				}
				for _, st := range steps {
					for _, sgn := range []float64{-1, 1} {
						v := g.snap(x[j] + sgn*st)
						if g.kind == gpGrid && v == x[j] {
							// One grid step at least.
							v = g.snap(x[j] + sgn*(st+1/float64(g.n)))
						}
						try(v)
					}
				}
			}
			if !moved {
				break
			}
		}
	}
	return bestX
}

// standardize returns (v - mean) / std; all-equal values become zeros.
func standardize(v []float64) []float64 {
	mean := 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	std := math.Sqrt(ss / float64(len(v)))
	if !(std > 1e-12*math.Max(1, math.Abs(mean))) {
		std = 1
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = (x - mean) / std
	}
	return out
}

// normalScores maps values to the normal quantiles of their ranks (ties
// share the mean rank), so that a few very bad trials do not squash the
// differences among the good ones.
func normalScores(v []float64) []float64 {
	n := len(v)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return v[order[a]] < v[order[b]] })
	out := make([]float64, n)
	for i := 0; i < n; {
		j := i
		for j+1 < n && v[order[j+1]] == v[order[i]] {
			j++
		}
		q := (float64(i+j)/2 + 0.5) / float64(n)
		z := math.Sqrt2 * math.Erfinv(2*q-1)
		for k := i; k <= j; k++ {
			out[order[k]] = z
		}
		i = j + 1
	}
	return standardize(out)
}

// gpDefaultTheta is where the first fit starts: unit length scales, unit
// kernel scale, small noise.
func gpDefaultTheta(d int) []float64 {
	th := make([]float64, d+2)
	th[d+1] = math.Log(0.01)
	return th
}

// gpHyper unpacks theta.
func gpHyper(theta []float64) (isl []float64, s2, noise float64) {
	d := len(theta) - 2
	isl = make([]float64, d)
	for j := range d {
		isl[j] = math.Exp(theta[j])
	}
	return isl, math.Exp(theta[d]), gpKnobs.noiseFloor + math.Exp(theta[d+1])
}

// sqDist is the ARD squared distance: Σ isl_j·(a_j-b_j)², with 1 for
// differing categories.
func sqDist(a, b []float64, isl []float64, cat []bool) float64 {
	r2 := 0.0
	for j := range a {
		if cat[j] {
			if a[j] != b[j] {
				r2 += isl[j]
			}
			continue
		}
		t := a[j] - b[j]
		r2 += isl[j] * t * t
	}
	return r2
}

// matern52 is the Matérn 5/2 kernel at squared distance r2, scale s2.
func matern52(r2, s2 float64) float64 {
	r := math.Sqrt(5 * r2)
	return s2 * (1 + r + r*r/3) * math.Exp(-r)
}

// gpFit maximizes the log marginal likelihood plus the priors from init
// and returns the theta found (the default when init cannot be evaluated).
func gpFit(X [][]float64, y []float64, cat []bool, init []float64) []float64 {
	x, f := lbfgs(gpObjective(X, y, cat), slices.Clone(init), 50)
	if !(f < math.Inf(1)) {
		return gpDefaultTheta(len(cat))
	}
	return x
}

// gpObjective is the negative log marginal likelihood of y at X plus
// Optuna's priors (log inverse squared length scales: -(0.1/l + 0.1·l);
// kernel scale Gamma(2, 1); noise Gamma(1.1, 30)) as a function of theta,
// filling grad (when not nil) with its gradient. +Inf where the kernel
// matrix cannot be factored.
func gpObjective(X [][]float64, y []float64, cat []bool) func(theta, grad []float64) float64 {
	d := len(cat)
	n := len(X)
	// Per-dim squared differences, computed once.
	diff := make([][]float64, d)
	for j := range d {
		diff[j] = make([]float64, n*n)
		for a := range n {
			for b := range a {
				t := X[a][j] - X[b][j]
				if cat[j] {
					t = 0
					if X[a][j] != X[b][j] {
						t = 1
					}
				}
				diff[j][a*n+b] = t * t
				diff[j][b*n+a] = t * t
			}
		}
	}
	K := make([]float64, n*n)
	R := make([]float64, n*n) // √(5r²) per pair
	E := make([]float64, n*n) // exp(-R), kept for the gradient
	L := make([]float64, n*n)
	Kinv := make([]float64, n*n)
	alpha := make([]float64, n)
	eval := func(theta, grad []float64) float64 {
		for _, t := range theta {
			if math.IsNaN(t) || math.Abs(t) > 25 {
				return math.Inf(1)
			}
		}
		isl, s2, noise := gpHyper(theta)
		for a := range n {
			for b := 0; b <= a; b++ {
				r2 := 0.0
				for j := range d {
					r2 += isl[j] * diff[j][a*n+b]
				}
				r := math.Sqrt(5 * r2)
				e := math.Exp(-r)
				R[a*n+b], E[a*n+b] = r, e
				k := s2 * (1 + r + r*r/3) * e // matern52(r2, s2)
				K[a*n+b], K[b*n+a] = k, k
			}
		}
		copy(L, K)
		for a := range n {
			L[a*n+a] += noise
		}
		if !cholesky(L, n) {
			return math.Inf(1)
		}
		copy(alpha, y)
		cholSolve(L, n, alpha)
		logdet := 0.0
		for a := range n {
			logdet += 2 * math.Log(L[a*n+a])
		}
		fit := 0.0
		for a := range n {
			fit += y[a] * alpha[a]
		}
		lml := -0.5*fit - 0.5*logdet - 0.5*float64(n)*math.Log(2*math.Pi)
		prior := math.Log(s2) - s2 + 0.1*math.Log(noise) - gpKnobs.noiseRate*noise
		for j := range d {
			prior -= 0.1/isl[j] + 0.1*isl[j]
		}
		f := -(lml + prior)
		if grad == nil {
			return f
		}
		cholInverse(L, n, Kinv)
		// W = αα' - K⁻¹; dLML/dθ = ½ Σ W ∘ dK/dθ.
		gs2, gn := 0.0, 0.0
		gl := make([]float64, d)
		// W and dK are symmetric: the lower triangle, off-diagonal pairs twice.
		for a := range n {
			for b := 0; b <= a; b++ {
				w := alpha[a]*alpha[b] - Kinv[a*n+b]
				if a == b {
					gn += w
				} else {
					w *= 2
				}
				gs2 += w * K[a*n+b]
				r := R[a*n+b]
				wd := w * -(5.0 / 6) * s2 * (1 + r) * E[a*n+b] // dk/d(r2)
				for j := range d {
					gl[j] += wd * diff[j][a*n+b]
				}
			}
		}
		for j := range d {
			grad[j] = -(0.5*gl[j]*isl[j] + 0.1/isl[j] - 0.1*isl[j])
		}
		grad[d] = -(0.5*gs2 + 1 - s2)
		en := noise - gpKnobs.noiseFloor
		grad[d+1] = -(0.5*gn*en + (0.1/noise-gpKnobs.noiseRate)*en)
		return f
	}
	return eval
}

// lbfgs minimizes f (which fills grad when it is not nil) from x with
// limited-memory BFGS and a backtracking line search, for at most iters
// iterations, and returns the best point and value seen. gonum's optimize
// would pull golang.org/x/exp into the module for this one call.
func lbfgs(f func(x, grad []float64) float64, x []float64, iters int) ([]float64, float64) {
	const m = 6
	n := len(x)
	g := make([]float64, n)
	fx := f(x, g)
	if math.IsInf(fx, 0) || math.IsNaN(fx) {
		return x, math.Inf(1)
	}
	var ss, ys [][]float64
	var rhos []float64
	dir := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	alpha := make([]float64, m)
	for it := 0; it < iters; it++ {
		// Two-loop recursion: dir = -H·g.
		copy(dir, g)
		for i := len(ss) - 1; i >= 0; i-- {
			alpha[i] = rhos[i] * dot(ss[i], dir)
			axpy(-alpha[i], ys[i], dir)
		}
		gamma := 1.0
		if k := len(ss) - 1; k >= 0 {
			gamma = dot(ss[k], ys[k]) / dot(ys[k], ys[k])
		} else if gg := math.Sqrt(dot(g, g)); gg > 0 {
			gamma = 1 / math.Max(1, gg) // a first step of at most one unit
		}
		for i := range dir {
			dir[i] *= gamma
		}
		for i := range ss {
			b := rhos[i] * dot(ys[i], dir)
			axpy(alpha[i]-b, ss[i], dir)
		}
		for i := range dir {
			dir[i] = -dir[i]
		}
		slope := dot(g, dir)
		if !(slope < 0) {
			// Not a descent direction: restart from steepest descent.
			ss, ys, rhos = nil, nil, nil
			for i := range dir {
				dir[i] = -g[i]
			}
			slope = -dot(g, g)
			if !(slope < 0) {
				break
			}
		}
		step, fn := 1.0, math.Inf(1)
		for try := 0; try < 30; try++ {
			for i := range x {
				xn[i] = x[i] + step*dir[i]
			}
			fn = f(xn, gn)
			if fn <= fx+1e-4*step*slope {
				break
			}
			step /= 2
		}
		if !(fn <= fx+1e-4*step*slope) {
			break
		}
		s := make([]float64, n)
		y := make([]float64, n)
		for i := range x {
			s[i], y[i] = xn[i]-x[i], gn[i]-g[i]
		}
		if sy := dot(s, y); sy > 1e-12 {
			if len(ss) == m {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, y), append(rhos, 1/sy)
		}
		done := fx-fn < 1e-9*math.Max(1, math.Abs(fx))
		copy(x, xn)
		copy(g, gn)
		fx = fn
		if done || math.Sqrt(dot(g, g)) < 1e-5 {
			break
		}
	}
	return x, fx
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}

// gpPosterior is a GP conditioned on data: the Cholesky factor of the
// kernel matrix (noise added) and α = K⁻¹y.
type gpPosterior struct {
	X     [][]float64
	cat   []bool
	isl   []float64
	s2    float64
	L     []float64
	n     int
	alpha []float64
	buf   []float64
}

// newGPPosterior conditions the GP; nil if the kernel matrix cannot be
// factored even with extra jitter.
func newGPPosterior(X [][]float64, y []float64, cat []bool, theta []float64) *gpPosterior {
	isl, s2, noise := gpHyper(theta)
	n := len(X)
	L := make([]float64, n*n)
	for jitter := 0.0; ; {
		for a := range n {
			for b := 0; b <= a; b++ {
				k := matern52(sqDist(X[a], X[b], isl, cat), s2)
				L[a*n+b], L[b*n+a] = k, k
			}
			L[a*n+a] += noise + jitter
		}
		if cholesky(L, n) {
			break
		}
		if jitter == 0 {
			jitter = 1e-6 * s2
		} else if jitter *= 10; jitter > s2 {
			return nil
		}
	}
	alpha := slices.Clone(y)
	cholSolve(L, n, alpha)
	return &gpPosterior{X: X, cat: cat, isl: isl, s2: s2, L: L, n: n, alpha: alpha, buf: make([]float64, n)}
}

// predict returns the posterior mean and variance (of the latent
// function, without the noise) at x. Not safe for concurrent use.
func (p *gpPosterior) predict(x []float64) (float64, float64) {
	k := p.buf
	mean := 0.0
	for a := range p.n {
		k[a] = matern52(sqDist(x, p.X[a], p.isl, p.cat), p.s2)
		mean += k[a] * p.alpha[a]
	}
	// v = L⁻¹k; var = s2 - |v|².
	vv := 0.0
	for a := range p.n {
		// The solve is most of an ask; gonum's dot product is unrolled
		// (assembly on amd64), a plain loop is one dependent chain.
		s := k[a] - floats.Dot(p.L[a*p.n:a*p.n+a], k[:a])
		k[a] = s / p.L[a*p.n+a]
		vv += k[a] * k[a]
	}
	return mean, math.Max(p.s2-vv, 1e-12*p.s2)
}

// cholesky factors the symmetric positive definite n×n matrix a (row
// major) in place into its lower factor L (a = LLᵀ); the upper triangle is
// zeroed. It reports false when a is not positive definite.
func cholesky(a []float64, n int) bool {
	for j := range n {
		rj := a[j*n : j*n+j]
		s := a[j*n+j] - floats.Dot(rj, rj)
		if !(s > 0) {
			return false
		}
		ljj := math.Sqrt(s)
		a[j*n+j] = ljj
		for i := j + 1; i < n; i++ {
			a[i*n+j] = (a[i*n+j] - floats.Dot(a[i*n:i*n+j], rj)) / ljj
		}
		for i := j + 1; i < n; i++ {
			a[j*n+i] = 0
		}
	}
	return true
}

// cholSolve solves LLᵀx = b in place (b becomes x).
func cholSolve(L []float64, n int, b []float64) {
	for i := range n {
		b[i] = (b[i] - floats.Dot(L[i*n:i*n+i], b[:i])) / L[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= L[k*n+i] * b[k]
		}
		b[i] = s / L[i*n+i]
	}
}

// cholInverse writes (LLᵀ)⁻¹ into out.
func cholInverse(L []float64, n int, out []float64) {
	// Linv lower triangular, then out = Linvᵀ·Linv, both a row at a time
	// (rows are contiguous; columns would stride through memory).
	linv := make([]float64, n*n)
	for i := range n {
		row := linv[i*n : i*n+i+1]
		row[i] = 1
		for k := range i {
			floats.AddScaled(row[:k+1], -L[i*n+k], linv[k*n:k*n+k+1])
		}
		floats.Scale(1/L[i*n+i], row)
	}
	clear(out)
	for k := range n {
		row := linv[k*n : k*n+k+1]
		for a, v := range row {
			floats.AddScaled(out[a*n:a*n+a+1], v, row[:a+1])
		}
	}
	for a := range n {
		for b := range a {
			out[b*n+a] = out[a*n+b]
		}
	}
}

// logEI is the log expected improvement below best of a Gaussian with the
// given mean and variance, computed stably far into the tail.
func logEI(mean, variance, best float64) float64 {
	sigma := math.Sqrt(variance)
	z := (best - mean) / sigma
	return math.Log(sigma) + logH(z)
}

// logH is log(z·Φ(z) + φ(z)).
func logH(z float64) float64 {
	if z > -6 {
		return math.Log(z*phi(z) + math.Exp(-0.5*z*z)/math.Sqrt(2*math.Pi))
	}
	// Asymptotic series: φ(z)/z² · (1 - 3/z² + 15/z⁴ - 105/z⁶).
	z2 := z * z
	return -0.5*z2 - 0.5*math.Log(2*math.Pi) - math.Log(z2) + math.Log(1-3/z2+15/(z2*z2)-105/(z2*z2*z2))
}

// gpAutoTrials is where the default sampler (auto) hands over from the GP
// to the multivariate TPE: by then TPE has the data it needs, and a GP's
// ask would keep growing with the history.
const gpAutoTrials = 200

// sampleGP runs the study's GP sampler, which lives in the study's cache
// so that each fit starts from the last one.
func (t *Tuner) sampleGP(s *trials.Study, sp *space, st *studyState, r reservation, v *view, rs map[string]any, base *goptuna.Trial) error {
	st.relMu.Lock()
	defer st.relMu.Unlock()
	key := samplerConfig(s, sp)
	g, ok := st.rel.(*gpSampler)
	if !ok || st.relKey != key {
		g = &gpSampler{seed: studySeed(s), startup: startupTrials(s)}
		st.rel, st.relKey = g, key
	}
	g.in = newGPInput(sp, r.snap.entries, r.inflight, v.direction, r.number)
	return callRelative(s.Name, v, g, rs, base)
}
