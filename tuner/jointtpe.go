package tuner

import (
	"math"
	"math/rand"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/c-bata/goptuna"

	"github.com/tune-dev/tune/trials"
)

// jointTPE is a multivariate TPE: one Parzen estimator over all params of a
// trial, as Optuna's TPESampler(multivariate=True), so interactions between
// params (learning rate × batch size) are modelled where independent TPE
// sees only marginals. It is a goptuna.RelativeSampler; params it cannot
// model (and the start-up trials) are left to the study's independent
// sampler, which Goptuna then asks.
//
// The arithmetic is the textbook one, with none of Goptuna's quirks kept by
// tpeSampler: a mixture's density is the log-sum-exp of its weighted
// components, each a Gaussian truncated to the range (its probability mass
// over a quantization cell for int and stepped params), and a categorical
// component puts 1+ε on its observed choice and ε on each other one
// (normalized; ε = prior weight / components, so it narrows as data grows).
// Bandwidths follow Scott's rule as Optuna's multivariate TPE does,
// 0.2·n^(-1/(d+4)) of the range, clipped to [range/min(100, n+1), range];
// the prior (centred, one range wide; uniform for categories) is one more
// component of weight 1. The below/above split takes the
// ceil(15%) best up to 25 (Optuna: 10%); above-components are weighted by
// tpe.DefaultWeights' ramp, below ones uniformly. Running trials are imputed
// as the worst ("constant liar"), so they land above.
//
// Several objectives, constraints and failures that are observations
// change the split into below and above (motpe.go, constraints.go).
//
// Candidates that repeat a configuration already tried or in flight are
// passed over while another candidate is left: on discrete spaces TPE
// otherwise spends a large share of its budget re-running its best point,
// which teaches it little.
type jointTPE struct {
	seed       int64
	startup    int
	candidates int
	// hist is the history the tuner gathered; nil reads the study's trials.
	hist *jointHistory
}

var _ goptuna.RelativeSampler = (*jointTPE)(nil)

// jointHistory is every trial as a row of internal values over the
// params in a fixed (sorted) order, with TPE's score (lower is better).
type jointHistory struct {
	names  []string
	rows   [][]float64
	scores [][2]float64
	// real counts rows that are finished trials (start-up is decided on
	// them alone).
	real int
	// infeasible counts rows that must stay in the bad group.
	infeasible int
	// multi: several objectives; then kinds and values (signed objective
	// values of seenComplete rows) rank the rows, not scores alone.
	multi bool
	// kinds says what each row is (empty for a history read through
	// Goptuna, which knows no constraints).
	kinds  []verdict
	values [][]float64
}

// jointDim is one modelled param.
type jointDim struct {
	name   string
	kind   int // dimCont, dimDisc or dimCat
	log    bool
	lo, hi float64 // the modelled range (log space; widened by q/2 for dimDisc)
	q      float64 // grid step for dimDisc
	low    float64 // first grid point for dimDisc
	n      int     // choices for dimCat
	single bool
}

const (
	dimCont = iota
	dimDisc
	dimCat
)

// jointKnobs are the joint TPE's constants, a variable so that
// TestScreenSamplers can screen others (TUNE_SCREEN, see bench/README.md).
// gammaFrac 0.15 rather than Optuna's 0.1: over 72 seeds of the six
// HPOBench tables it lowered the summary regret by about 8% at W = 1 and
// W = 8; the other knobs screened (more candidates, prior weight, Scott's
// factor, a bandwidth floor of one grid step, no ramp, a sqrt split) were
// within the noise.
type jointKnobsT struct {
	priorWeight float64
	sigma0      float64 // Scott's factor: bandwidth sigma0·n^(-1/(d+4)) of the range
	gammaFrac   float64 // the below group is the ceil(gammaFrac·n) best...
	gammaCap    int     // ...at most gammaCap
	gammaSqrt   float64 // >0: ceil(gammaSqrt·sqrt(n)) best instead
	candidates  int     // >0: overrides the study's ei_candidates
	minBW       float64 // >0: bandwidth floor in grid steps for discrete dims
	noRamp      bool    // weigh old above-trials as much as recent ones
}

var jointKnobs = jointKnobsT{priorWeight: 1, sigma0: 0.2, gammaFrac: 0.15, gammaCap: 25}

func jointDims(names []string, space map[string]any) ([]jointDim, bool) {
	dims := make([]jointDim, 0, len(names))
	for _, name := range names {
		d := jointDim{name: name}
		switch x := space[name].(type) {
		case goptuna.UniformDistribution:
			d.kind, d.lo, d.hi = dimCont, x.Low, x.High
			d.single = x.Low == x.High
		case goptuna.LogUniformDistribution:
			d.kind, d.log, d.lo, d.hi = dimCont, true, math.Log(x.Low), math.Log(x.High)
			d.single = x.Low == x.High
		case goptuna.IntUniformDistribution:
			d.kind, d.q, d.low = dimDisc, 1, float64(x.Low)
			d.lo, d.hi = float64(x.Low)-0.5, float64(x.High)+0.5
			d.single = x.Low == x.High
		case goptuna.StepIntUniformDistribution:
			last := x.Low + (x.High-x.Low)/x.Step*x.Step
			d.kind, d.q, d.low = dimDisc, float64(x.Step), float64(x.Low)
			d.lo, d.hi = float64(x.Low)-d.q/2, float64(last)+d.q/2
			d.single = last == x.Low
		case goptuna.DiscreteUniformDistribution:
			last := x.Low + math.Floor((x.High-x.Low)/x.Q+1e-9)*x.Q
			d.kind, d.q, d.low = dimDisc, x.Q, x.Low
			d.lo, d.hi = x.Low-x.Q/2, last+x.Q/2
			d.single = last == x.Low
		case goptuna.CategoricalDistribution:
			d.kind, d.n = dimCat, len(x.Choices)
			d.single = d.n == 1
		default:
			return nil, false
		}
		dims = append(dims, d)
	}
	return dims, true
}

// SampleRelative implements goptuna.RelativeSampler.
func (s *jointTPE) SampleRelative(study *goptuna.Study, trial goptuna.FrozenTrial, space map[string]any) (map[string]float64, error) {
	names := make([]string, 0, len(space))
	for name := range space {
		names = append(names, name)
	}
	sort.Strings(names)
	dims, ok := jointDims(names, space)
	if !ok {
		return nil, nil
	}
	h := s.hist
	if h == nil || !slices.Equal(h.names, names) {
		var err error
		if h, err = studyHistory(study, trial, names); err != nil {
			return nil, err
		}
	}
	if h.real < s.startup || h.real == 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewSource(int64(splitmix64(uint64(s.seed) ^ splitmix64(uint64(trial.Number)^0x4a4f494e54)))))
	return s.sample(dims, h, rng), nil
}

// studyHistory reads the rows from the study, as Goptuna's own TPE would.
func studyHistory(study *goptuna.Study, target goptuna.FrozenTrial, names []string) (*jointHistory, error) {
	sign := 1.0
	if study.Direction() == goptuna.StudyDirectionMaximize {
		sign = -1
	}
	all, err := study.GetTrials()
	if err != nil {
		return nil, err
	}
	h := &jointHistory{names: names}
	worst, haveWorst := math.Inf(-1), false
	for _, t := range all {
		if t.State == goptuna.TrialStateComplete {
			worst, haveWorst = math.Max(worst, sign*t.Value), true
		}
	}
	for _, t := range all {
		row := make([]float64, len(names))
		complete := true
		for i, n := range names {
			x, ok := t.InternalParams[n]
			if !ok {
				complete = false
				break
			}
			row[i] = x
		}
		if !complete {
			continue
		}
		switch t.State {
		case goptuna.TrialStateComplete:
			h.add(row, [2]float64{math.Inf(-1), sign * t.Value}, true)
		case goptuna.TrialStatePruned:
			h.add(row, prunedScore(t.IntermediateValues, sign), true)
		case goptuna.TrialStateRunning, goptuna.TrialStateWaiting:
			if t.ID != target.ID && haveWorst {
				h.add(row, [2]float64{math.Inf(-1), worst}, false)
			}
		}
	}
	return h, nil
}

// newJointHistory gathers the rows from the tuner's cache: finished
// trials with every param of the space, running ones and in-flight
// proposals imputed as the worst complete value (several objectives: put
// in the bad group), and infeasible observations (see judge), which always
// go to the bad group.
func newJointHistory(sp *space, snap []*entry, inflight [][]float64, j *judge) *jointHistory {
	h := &jointHistory{names: make([]string, len(sp.params)), multi: j.multi()}
	for i, p := range sp.params {
		h.names[i] = p.name
	}
	sign := j.signs[0]
	type seen struct {
		v      verdict
		values []float64
		viol   float64
	}
	verdicts := make([]seen, len(snap))
	worst, haveWorst := math.Inf(-1), false
	for i, e := range snap {
		v, values, viol := j.read(&e.t)
		verdicts[i] = seen{v, values, viol}
		if v == seenComplete && !h.multi {
			worst, haveWorst = math.Max(worst, values[0]), true
		}
	}
	h.rows = make([][]float64, 0, len(snap)+len(inflight))
	h.scores = make([][2]float64, 0, len(snap)+len(inflight))
	for i, e := range snap {
		if slices.Contains(e.has, false) {
			continue
		}
		sn := verdicts[i]
		switch sn.v {
		case seenComplete:
			if h.multi {
				h.addKind(e.internal, sn.v, sn.values, [2]float64{}, true)
			} else {
				h.addKind(e.internal, sn.v, nil, [2]float64{math.Inf(-1), sn.values[0]}, true)
			}
		case seenPruned:
			if h.multi {
				// Ranked by how far they got, after every complete trial.
				h.addKind(e.internal, sn.v, nil, [2]float64{e.pruned[0], 0}, true)
			} else {
				h.addKind(e.internal, sn.v, nil, e.prunedScore(sign), true)
			}
		case seenInfeasible:
			// Last of all, the least violation first; a failure is no
			// finished trial for the start-up count.
			real := e.t.State == trials.TrialComplete
			if h.multi {
				h.addKind(e.internal, sn.v, nil, [2]float64{math.Inf(1), sn.viol}, real)
			} else {
				h.addKind(e.internal, sn.v, nil, [2]float64{math.Inf(1), sn.viol}, real)
			}
			h.infeasible++
		case seenRunning:
			if h.multi {
				h.addKind(e.internal, sn.v, nil, [2]float64{}, false)
			} else if haveWorst {
				h.addKind(e.internal, sn.v, nil, [2]float64{math.Inf(-1), worst}, false)
			}
		}
	}
	for _, internal := range inflight {
		if h.multi {
			h.addKind(internal, seenRunning, nil, [2]float64{}, false)
		} else if haveWorst {
			h.addKind(internal, seenRunning, nil, [2]float64{math.Inf(-1), worst}, false)
		}
	}
	return h
}

func (h *jointHistory) add(row []float64, score [2]float64, real bool) {
	h.rows = append(h.rows, row)
	h.scores = append(h.scores, score)
	if real {
		h.real++
	}
}

// jointGamma is the size of the below group: the ceil(15%) best, at most
// 25 (Optuna's default takes 10%; see jointKnobs).
func jointGamma(n int) int {
	k := jointKnobs
	if k.gammaSqrt > 0 {
		return min(int(math.Ceil(k.gammaSqrt*math.Sqrt(float64(n)))), k.gammaCap)
	}
	return min(int(math.Ceil(k.gammaFrac*float64(n))), k.gammaCap)
}

func (s *jointTPE) sample(dims []jointDim, h *jointHistory, rng *rand.Rand) map[string]float64 {
	n := len(h.rows)
	isBelow, wBelow := h.split()
	below := make([][]float64, 0, n)
	above := make([][]float64, 0, n)
	// Both keep trial order: the above weights favour recent trials.
	for i, row := range h.rows {
		if isBelow[i] {
			below = append(below, row)
		} else {
			above = append(above, row)
		}
	}
	active := make([]int, 0, len(dims))
	for i, d := range dims {
		if !d.single {
			active = append(active, i)
		}
	}
	l := newJointPE(dims, active, below, wBelow, false)
	g := newJointPE(dims, active, above, nil, true)

	seen := make(map[uint64]struct{}, n)
	for _, row := range h.rows {
		seen[rowKey(row, active)] = struct{}{}
	}
	nc := s.candidates
	if jointKnobs.candidates > 0 {
		nc = jointKnobs.candidates
	}
	cands := make([][]float64, nc)
	for i := range cands {
		cands[i] = l.draw(rng)
	}
	ll := l.logPDF(cands)
	lg := g.logPDF(cands)
	h.feasibility(dims, active, cands, ll)
	best, bestScore, bestNew := 0, math.Inf(-1), false
	for i, c := range cands {
		_, dup := seen[rowKey(c, active)]
		sc := ll[i] - lg[i]
		if math.IsNaN(sc) {
			sc = math.Inf(-1)
		}
		// A new configuration beats any repeat; among equals the score decides.
		if (!dup && !bestNew) || (!dup == bestNew && sc > bestScore) || i == 0 {
			best, bestScore, bestNew = i, sc, !dup
		}
	}
	out := make(map[string]float64, len(dims))
	for i, d := range dims {
		x := cands[best][i] // in the param's own scale: draw undid the log
		if d.single {
			x = d.singleValue()
		}
		out[d.name] = x
	}
	return out
}

func (d jointDim) singleValue() float64 {
	switch d.kind {
	case dimCat:
		return 0
	case dimDisc:
		return d.low
	}
	if d.log {
		return math.Exp(d.lo)
	}
	return d.lo
}

// rowKey hashes the active values of a row (internal, unlogged).
func rowKey(row []float64, active []int) uint64 {
	x := uint64(0x9e3779b97f4a7c15)
	for _, i := range active {
		x = splitmix64(x ^ math.Float64bits(row[i]+0)) // +0 folds -0 into 0
	}
	return x
}

// jointPE is a Parzen estimator over the active dims: kernel k has weight
// w[k] and, per dim, a centre (mus[d][k]) and a bandwidth shared by all
// observation kernels (sigma[d]); the last kernel is the prior.
type jointPE struct {
	dims   []jointDim
	active []int
	logW   []float64
	w      []float64
	cum    []float64
	mus    [][]float64 // by active dim, then kernel; modelled space
	sigma  []float64   // by active dim, observation kernels
	psigma []float64   // by active dim, the prior kernel
	eps    float64     // categorical kernels' mass on choices not observed
	// See index.
	uniq [][]float64
	kidx [][]int32
	logZ [][]float64
}

// weights, when not nil, weigh the rows' kernels (the prior keeps its own).
func newJointPE(dims []jointDim, active []int, rows [][]float64, weights []float64, ramp bool) *jointPE {
	n := len(rows)
	k := n + 1
	pe := &jointPE{dims: dims, active: active}
	w := make([]float64, k)
	if ramp && n >= 25 && !jointKnobs.noRamp {
		// tpe.DefaultWeights: a ramp from 1/n over the oldest n-25, then 1.
		for i := range n - 25 {
			w[i] = 1.0/float64(n) + (1-1.0/float64(n))*float64(i)/float64(max(1, n-26))
		}
		for i := n - 25; i < n; i++ {
			w[i] = 1
		}
	} else if weights != nil {
		copy(w, weights)
	} else {
		for i := range n {
			w[i] = 1
		}
	}
	w[n] = jointKnobs.priorWeight
	total := 0.0
	for _, x := range w {
		total += x
	}
	pe.w = make([]float64, k)
	pe.logW = make([]float64, k)
	pe.cum = make([]float64, k)
	c := 0.0
	for i, x := range w {
		pe.w[i] = x / total
		pe.logW[i] = math.Log(pe.w[i])
		c += pe.w[i]
		pe.cum[i] = c
	}
	pe.eps = jointKnobs.priorWeight / float64(k)
	d := float64(len(active))
	pe.mus = make([][]float64, len(active))
	pe.sigma = make([]float64, len(active))
	pe.psigma = make([]float64, len(active))
	for a, i := range active {
		dim := dims[i]
		mus := make([]float64, k)
		for j, row := range rows {
			x := row[i]
			if dim.log {
				x = math.Log(x)
			}
			mus[j] = x
		}
		if dim.kind == dimCat {
			mus[n] = -1 // the prior: uniform
		} else {
			mus[n] = (dim.lo + dim.hi) / 2
			r := dim.hi - dim.lo
			sigma := jointKnobs.sigma0 * math.Pow(math.Max(float64(n), 1), -1/(d+4)) * r
			sigma = math.Max(sigma, r/math.Min(100, float64(k)))
			if dim.kind == dimDisc && jointKnobs.minBW > 0 {
				sigma = math.Max(sigma, jointKnobs.minBW*dim.q)
			}
			pe.sigma[a] = math.Min(sigma, r)
			pe.psigma[a] = r
		}
		pe.mus[a] = mus
	}
	pe.index()
	return pe
}

func (pe *jointPE) draw(rng *rand.Rand) []float64 {
	r := rng.Float64()
	k := sort.SearchFloat64s(pe.cum, r)
	if k >= len(pe.cum) || pe.cum[k] == r {
		k = min(k+1, len(pe.cum)-1)
	}
	prior := k == len(pe.cum)-1
	out := make([]float64, len(pe.dims))
	for a, i := range pe.active {
		dim := pe.dims[i]
		mu := pe.mus[a][k]
		if dim.kind == dimCat {
			if prior {
				out[i] = float64(rng.Intn(dim.n))
				continue
			}
			// 1+eps on mu, eps elsewhere: mu with probability 1/(1+n·eps).
			if rng.Float64()*(1+float64(dim.n)*pe.eps) < 1+pe.eps {
				out[i] = mu
			} else {
				// Uniform over the others.
				c := rng.Intn(dim.n - 1)
				if float64(c) >= mu {
					c++
				}
				out[i] = float64(c)
			}
			continue
		}
		sigma := pe.sigma[a]
		if prior {
			sigma = pe.psigma[a]
		}
		x := mu
		for try := 0; ; try++ {
			x = mu + sigma*rng.NormFloat64()
			if x >= dim.lo && x < dim.hi {
				break
			}
			if try == 100 {
				x = math.Min(math.Max(x, dim.lo), math.Nextafter(dim.hi, dim.lo))
				break
			}
		}
		if dim.kind == dimDisc {
			last := math.Round((dim.hi - dim.lo - dim.q) / dim.q)
			x = dim.low + math.Max(0, math.Min(last, math.Round((x-dim.low)/dim.q)))*dim.q
		}
		if dim.log {
			x = math.Exp(x)
		}
		out[i] = x
	}
	return out
}

// logPDF is the mixture's log-density (log-probability on discrete dims)
// at each candidate.
func (pe *jointPE) logPDF(cands [][]float64) []float64 {
	out := make([]float64, len(cands))
	k := len(pe.w)
	// Work is kernels × candidates × dims: split the candidates across
	// cores when it is worth a goroutine.
	workers := 1
	if k*len(cands)*len(pe.active) > 200_000 {
		workers = min(runtime.GOMAXPROCS(0), len(cands))
	}
	per := (len(cands) + workers - 1) / workers
	var wg sync.WaitGroup
	for wk := range workers {
		lo, hi := wk*per, min(len(cands), (wk+1)*per)
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			acc := make([]float64, k)
			for c := lo; c < hi; c++ {
				copy(acc, pe.logW)
				for a, i := range pe.active {
					pe.addDim(acc, a, pe.dims[i], cands[c][i])
				}
				out[c] = logSumExp(acc)
			}
		})
	}
	wg.Wait()
	return out
}

// addDim adds each kernel's log-density of dim a at x to acc. Kernels on
// the same centre share one evaluation: on discrete dims there are few.
func (pe *jointPE) addDim(acc []float64, a int, dim jointDim, x float64) {
	mus := pe.mus[a]
	n := len(mus) - 1
	if dim.log && dim.kind != dimCat {
		x = math.Log(x)
	}
	if u := pe.uniq[a]; u != nil {
		vals := make([]float64, len(u))
		for i, mu := range u {
			vals[i] = pe.kernel(a, dim, x, mu)
		}
		for j, ix := range pe.kidx[a] {
			acc[j] += vals[ix]
		}
	} else if dim.kind == dimDisc {
		for j := range n {
			acc[j] += kernelLog(dim, x, mus[j], pe.sigma[a])
		}
	} else {
		// Continuous with many centres: the truncation terms were computed
		// once per estimator.
		sigma := pe.sigma[a]
		c := -math.Log(sigma) - 0.5*math.Log(2*math.Pi)
		if dim.log {
			c -= x
		}
		lz := pe.logZ[a]
		for j := range n {
			t := (x - mus[j]) / sigma
			acc[j] += -0.5*t*t + c - lz[j]
		}
	}
	if dim.kind == dimCat {
		acc[n] -= math.Log(float64(dim.n))
	} else {
		acc[n] += kernelLog(dim, x, mus[n], pe.psigma[a])
	}
}

// kernel is the log-density at x of an observation kernel centred on mu.
func (pe *jointPE) kernel(a int, dim jointDim, x, mu float64) float64 {
	if dim.kind == dimCat {
		lz := math.Log(1 + float64(dim.n)*pe.eps)
		if mu == x {
			return math.Log(1+pe.eps) - lz
		}
		return math.Log(pe.eps) - lz
	}
	return kernelLog(dim, x, mu, pe.sigma[a])
}

// maxUniq is how many distinct centres a dim may have for its kernels to
// be evaluated once per centre.
const maxUniq = 256

// index groups the observation kernels of each dim by centre, or computes
// their truncation terms where the centres are too many to group.
func (pe *jointPE) index() {
	pe.uniq = make([][]float64, len(pe.active))
	pe.kidx = make([][]int32, len(pe.active))
	pe.logZ = make([][]float64, len(pe.active))
	for a, i := range pe.active {
		dim := pe.dims[i]
		mus := pe.mus[a]
		n := len(mus) - 1
		at := make(map[float64]int32)
		kidx := make([]int32, n)
		var uniq []float64
		for j := range n {
			ix, ok := at[mus[j]]
			if !ok {
				if len(uniq) == maxUniq {
					uniq = nil
					break
				}
				ix = int32(len(uniq))
				at[mus[j]] = ix
				uniq = append(uniq, mus[j])
			}
			kidx[j] = ix
		}
		if uniq != nil || n == 0 {
			pe.uniq[a], pe.kidx[a] = uniq, kidx
			if pe.uniq[a] == nil {
				pe.uniq[a] = []float64{}
			}
			continue
		}
		lz := make([]float64, n)
		sigma := pe.sigma[a]
		for j := range n {
			lz[j] = math.Log(math.Max(phi((dim.hi-mus[j])/sigma)-phi((dim.lo-mus[j])/sigma), 1e-300))
		}
		pe.logZ[a] = lz
	}
}

// kernelLog is the log-density of a Gaussian (mu, sigma) truncated to the
// dim's range at x, or for a discrete dim the log of its mass over x's cell.
func kernelLog(dim jointDim, x, mu, sigma float64) float64 {
	z := math.Log(math.Max(phi((dim.hi-mu)/sigma)-phi((dim.lo-mu)/sigma), 1e-300))
	if dim.kind == dimDisc {
		p := phi((x+dim.q/2-mu)/sigma) - phi((x-dim.q/2-mu)/sigma)
		return math.Log(math.Max(p, 1e-300)) - z
	}
	t := (x - mu) / sigma
	lp := -0.5*t*t - math.Log(sigma) - 0.5*math.Log(2*math.Pi) - z
	if dim.log {
		lp -= x // the jacobian of the log transform: density over the param itself
	}
	return lp
}

func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

func logSumExp(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		if x > m {
			m = x
		}
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
