package tuner

import (
	"math"
	"math/rand"
	"sort"
	"sync"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
)

// tpeSampler is Goptuna's TPE (github.com/c-bata/goptuna/tpe, v0.9.0) with
// the same arithmetic done faster, and seedable. It uses tpe.DefaultGamma,
// tpe.DefaultWeights and tpe.NewParzenEstimator with tpe.NewSampler's
// defaults, draws the same EI candidates and scores them with the same
// formulas, so for the same history and random streams it picks the same
// values as tpe.Sampler. What differs, and why:
//
//   - Randomness. tpe.Sampler draws its Gaussians from its seeded rng but
//     picks mixture components (random.ArgMaxMultinomial, random.Multinomial)
//     and start-up categories (goptuna.RandomSampler) from math/rand's global
//     source, which Go seeds at random: a seeded tpe.Sampler is not
//     reproducible. Here pick stands in for that global source.
//   - History. When the study's storage is a tuner view, the (value, score)
//     pairs come from observations over the cache's entries, whose params
//     were converted once when the trial was cached, with the constant
//     liar's imputed rows; otherwise they are read from
//     study.GetTrials() exactly as Goptuna does. The split into below/above
//     selects the gamma(n) best rows in one pass instead of stable-sorting
//     all of them; the result is the same.
//   - gmmLogPDF. Goptuna allocates several len(samples)×len(mus) matrices
//     and computes log(w/z/paccept) per element; here the logarithm is
//     split into per-component and per-sample terms, log(exp(t)) is taken
//     as t wherever exp(t) is a normal float (where it is not, the original
//     log(exp(t)) is kept: it underflows to -Inf exactly as in Goptuna), and
//     for quantized params each distinct candidate's probability is computed
//     once. Scores can differ from Goptuna's in the last bits, so the pick can
//     only differ on a near-exact tie.
//   - Guards. A single-valued float range is returned as is (tpe.Sampler
//     loops forever rejecting draws from an empty interval), and a weight
//     total rounded below the uniform draw picks the last component instead
//     of panicking.
//
// Goptuna's quirks in the algorithm itself are kept, so that the TPE this
// project shipped first stays reachable for comparison (a study's
// sampler: {type: tpe, multivariate: false}; the default is jointTPE):
// gmmLogPDF's mixture "log-sum" adds the
// components' log-densities instead of log-sum-exp-ing them and uses
// (x-mu)/sigma² where a squared distance is meant; paccept subtracts the
// unweighted low CDFs, so for large histories it turns negative, the scores
// become NaN and the first candidate (a draw from the good-trials density)
// wins; bincount weighs categorical counts by the category's index; an int
// param with a step is modelled with q=1 (the tuner snaps the result to the
// step grid).
type tpeSampler struct {
	startup    int
	candidates int
	params     tpe.ParzenEstimatorParams
	seed       int64
	// random samples the start-up trials; built on first use, as seeding
	// math/rand sources is most of a small study's Suggest.
	random goptuna.Sampler

	mu   sync.Mutex
	rng  *rand.Rand
	pick *rand.Rand
}

var _ goptuna.Sampler = (*tpeSampler)(nil)

const (
	tpeEps = 1e-12
	// minNormalExp is the least t for which exp(t) is a normal float64.
	minNormalExp = -708.3964185322641
)

func newTPESampler(seed, pickSeed int64, startup, candidates int) *tpeSampler {
	return &tpeSampler{
		startup:    startup,
		candidates: candidates,
		params: tpe.ParzenEstimatorParams{
			ConsiderPrior:     true,
			PriorWeight:       1.0,
			ConsiderMagicClip: true,
			ConsiderEndpoints: false,
			Weights:           tpe.DefaultWeights,
		},
		seed: seed,
		rng:  rand.New(rand.NewSource(seed)),
		pick: rand.New(rand.NewSource(pickSeed)),
	}
}

// Sample implements goptuna.Sampler.
func (s *tpeSampler) Sample(study *goptuna.Study, trial goptuna.FrozenTrial, name string, dist any) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var (
		values []float64
		scores [][2]float64
		real   int
	)
	if v, ok := study.Storage.(*view); ok && v.obs != nil {
		values, scores, real, ok = v.obs.pairs(name)
		if !ok {
			return 0, goptuna.ErrUnknownDistribution
		}
	} else {
		var err error
		values, scores, err = observationPairs(study, name)
		if err != nil {
			return 0, err
		}
		real = len(values)
	}
	if real < s.startup {
		if s.random == nil {
			s.random = newRandomSampler(s.seed)
		}
		return s.random.Sample(study, trial, name, dist)
	}
	if single, err := goptuna.DistributionIsSingle(dist); err != nil {
		return 0, err
	} else if single {
		return singleValue(dist), nil
	}

	below, above := splitBelowAbove(values, scores, tpe.DefaultGamma(len(values)))
	switch d := dist.(type) {
	case goptuna.UniformDistribution:
		return s.sampleNumerical(d.Low, d.High, below, above, 0, false), nil
	case goptuna.LogUniformDistribution:
		return s.sampleNumerical(d.Low, d.High, below, above, 0, true), nil
	case goptuna.IntUniformDistribution:
		return s.sampleNumerical(float64(d.Low)-0.5, float64(d.High)+0.5, below, above, 1, false), nil
	case goptuna.StepIntUniformDistribution:
		return s.sampleNumerical(float64(d.Low)-0.5, float64(d.High)+0.5, below, above, 1, false), nil
	case goptuna.DiscreteUniformDistribution:
		// Shifted to [0, high-low] so candidates land on the grid.
		q, r := d.Q, d.High-d.Low
		for i := range below {
			below[i] -= d.Low
		}
		for i := range above {
			above[i] -= d.Low
		}
		best := s.sampleNumerical(-0.5*q, r+0.5*q, below, above, q, false) + d.Low
		return math.Min(math.Max(best, d.Low), d.High), nil
	case goptuna.CategoricalDistribution:
		return s.sampleCategorical(d, below, above), nil
	}
	return 0, goptuna.ErrUnknownDistribution
}

func singleValue(dist any) float64 {
	switch d := dist.(type) {
	case goptuna.UniformDistribution:
		return d.Low
	case goptuna.LogUniformDistribution:
		return d.Low
	case goptuna.DiscreteUniformDistribution:
		return d.Low
	case goptuna.IntUniformDistribution:
		return float64(d.Low)
	case goptuna.StepIntUniformDistribution:
		return float64(d.Low)
	}
	return 0
}

// observationPairs is tpe's getObservationPairs: complete trials rank by
// value, pruned ones after them by how far they got.
func observationPairs(study *goptuna.Study, name string) ([]float64, [][2]float64, error) {
	sign := 1.0
	if study.Direction() == goptuna.StudyDirectionMaximize {
		sign = -1
	}
	all, err := study.GetTrials()
	if err != nil {
		return nil, nil, err
	}
	values := make([]float64, 0, len(all))
	scores := make([][2]float64, 0, len(all))
	for _, t := range all {
		if t.State != goptuna.TrialStateComplete && t.State != goptuna.TrialStatePruned {
			continue
		}
		x, ok := t.InternalParams[name]
		if !ok {
			continue
		}
		score := [2]float64{math.Inf(-1), sign * t.Value}
		if t.State == goptuna.TrialStatePruned {
			score = prunedScore(t.IntermediateValues, sign)
		}
		values = append(values, x)
		scores = append(scores, score)
	}
	return values, scores, nil
}

// splitBelowAbove is tpe's splitObservationPairs: the nbelow best rows by
// (score0, score1), ties to the earlier row as a stable sort leaves them,
// form below; both halves keep trial order, which the weights depend on.
func splitBelowAbove(values []float64, scores [][2]float64, nbelow int) ([]float64, []float64) {
	n := len(values)
	nbelow = max(0, min(nbelow, n))
	less := func(i, j int) bool {
		a, b := scores[i], scores[j]
		if a[0] == b[0] {
			return a[1] < b[1]
		}
		return a[0] < b[0]
	}
	isBelow := make([]bool, n)
	if nbelow > 64 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return less(idx[a], idx[b]) })
		for _, i := range idx[:nbelow] {
			isBelow[i] = true
		}
	} else if nbelow > 0 {
		// best holds the nbelow best rows so far, best first. A later row
		// only displaces one it strictly beats, which is the stable order.
		best := make([]int, 0, nbelow)
		for i := 0; i < n; i++ {
			if len(best) == nbelow && !less(i, best[nbelow-1]) {
				continue
			}
			k := sort.Search(len(best), func(k int) bool { return less(i, best[k]) })
			if len(best) < nbelow {
				best = append(best, 0)
			}
			copy(best[k+1:], best[k:len(best)-1])
			best[k] = i
		}
		for _, i := range best {
			isBelow[i] = true
		}
	}
	below := make([]float64, 0, nbelow)
	above := make([]float64, 0, n-nbelow)
	for i, x := range values {
		if isBelow[i] {
			below = append(below, x)
		} else {
			above = append(above, x)
		}
	}
	return below, above
}

func (s *tpeSampler) sampleNumerical(low, high float64, below, above []float64, q float64, isLog bool) float64 {
	if isLog {
		low, high = math.Log(low), math.Log(high)
		for i := range below {
			below[i] = math.Log(below[i])
		}
		for i := range above {
			above[i] = math.Log(above[i])
		}
	}
	peBelow := tpe.NewParzenEstimator(below, low, high, s.params)
	samples := s.sampleFromGMM(peBelow, low, high, s.candidates, q, isLog)
	logL := gmmLogPDF(samples, peBelow, low, high, q, isLog)
	if allNaN(logL) {
		// Every score is NaN whatever the above density says, and Goptuna's
		// argmax then keeps the first candidate.
		return samples[0]
	}
	peAbove := tpe.NewParzenEstimator(above, low, high, s.params)
	logG := gmmLogPDF(samples, peAbove, low, high, q, isLog)
	return samples[argMaxScore(logL, logG)]
}

func allNaN(xs []float64) bool {
	for _, x := range xs {
		if !math.IsNaN(x) {
			return false
		}
	}
	return true
}

// argMaxScore is tpe's compare: the first index of the largest logL-logG,
// where NaN never wins (so an all-NaN score keeps index 0).
func argMaxScore(logL, logG []float64) int {
	best, bestScore := 0, logL[0]-logG[0]
	for i := 1; i < len(logL); i++ {
		if sc := logL[i] - logG[i]; sc > bestScore {
			best, bestScore = i, sc
		}
	}
	return best
}

// pickIndex is random.ArgMaxMultinomial over a precomputed cumulative sum.
func (s *tpeSampler) pickIndex(cum []float64) int {
	r := s.pick.Float64()
	for i, c := range cum {
		if c > r {
			return i
		}
	}
	return len(cum) - 1
}

func cumsum(p []float64) []float64 {
	c := make([]float64, len(p))
	sum := 0.0
	for i, x := range p {
		sum += x
		c[i] = sum
	}
	return c
}

func (s *tpeSampler) sampleFromGMM(pe *tpe.ParzenEstimator, low, high float64, size int, q float64, isLog bool) []float64 {
	cum := cumsum(pe.Weights)
	samples := make([]float64, 0, size)
	for len(samples) < size {
		active := s.pickIndex(cum)
		draw := s.rng.NormFloat64()*pe.Sigmas[active] + pe.Mus[active]
		if low <= draw && draw < high {
			samples = append(samples, draw)
		}
	}
	if isLog {
		for i := range samples {
			samples[i] = math.Exp(samples[i])
		}
	}
	if q > 0 {
		for i := range samples {
			samples[i] = math.Round(samples[i]/q) * q
		}
	}
	return samples
}

func normalCDF(x, mu, sigma float64) float64 {
	z := (x - mu) / math.Max(math.Sqrt(2)*sigma, tpeEps)
	return 0.5 * (1 + math.Erf(z))
}

func logNormalCDF(x, mu, sigma float64) float64 {
	z := (math.Log(math.Max(x, tpeEps)) - mu) / math.Max(math.Sqrt(2)*sigma, tpeEps)
	return 0.5 + (0.5 * math.Erf(z))
}

// gmmLogPDF is tpe's gmmLogPDF (see tpeSampler for what is computed
// differently, and the quirks kept).
func gmmLogPDF(samples []float64, pe *tpe.ParzenEstimator, low, high, q float64, isLog bool) []float64 {
	w, mus, sigmas := pe.Weights, pe.Mus, pe.Sigmas
	out := make([]float64, len(samples))
	if len(samples) == 0 {
		return out
	}
	paccept := 0.0
	for j := range w {
		paccept += normalCDF(high, mus[j], sigmas[j])*w[j] - normalCDF(low, mus[j], sigmas[j])
	}

	if q > 0 {
		logAccept := math.Log(paccept + tpeEps)
		if math.IsNaN(logAccept) {
			fillNaN(out)
			return out
		}
		upper, lower := high, low
		if isLog {
			upper, lower = math.Exp(high), math.Exp(low)
		}
		// Quantized candidates repeat; each distinct one is scored once, and
		// its interval bounds are shared with neighbours where they meet.
		var xs, bounds []float64
		var ub, lb []int
		which := make([]int, len(samples))
		boundIndex := func(b float64) int {
			for k, x := range bounds {
				if x == b {
					return k
				}
			}
			bounds = append(bounds, b)
			return len(bounds) - 1
		}
	next:
		for i, x := range samples {
			for k, y := range xs {
				if y == x {
					which[i] = k
					continue next
				}
			}
			which[i] = len(xs)
			xs = append(xs, x)
			u := math.Min(x+q/2.0, upper)
			l := math.Max(x-q/2.0, lower)
			if isLog {
				l = math.Max(0, l)
			}
			ub, lb = append(ub, boundIndex(u)), append(lb, boundIndex(l))
		}
		cdf := normalCDF
		if isLog {
			cdf = logNormalCDF
		}
		prob := make([]float64, len(xs))
		at := make([]float64, len(bounds))
		for j := range w {
			for k, b := range bounds {
				at[k] = cdf(b, mus[j], sigmas[j])
			}
			for k := range xs {
				inc := w[j] * at[ub[k]]
				inc -= w[j] * at[lb[k]]
				prob[k] += inc
			}
		}
		for i := range samples {
			out[i] = math.Log(prob[which[i]]+tpeEps) + logAccept
		}
		return out
	}

	// log(w/z/paccept) with z = sqrt(2π)·sigma·jacobian is NaN for every
	// element when paccept <= 0 (+Inf-Inf when it is 0).
	if !(paccept > 0) {
		fillNaN(out)
		return out
	}
	logAccept := math.Log(paccept)
	s2 := make([]float64, len(w))
	lc := make([]float64, len(w))
	for j := range w {
		s2[j] = math.Pow(math.Max(sigmas[j], tpeEps), 2)
		lc[j] = math.Log(w[j]) - math.Log(math.Sqrt(2*math.Pi)*sigmas[j])
	}
	y := make([]float64, len(w))
	for i, x := range samples {
		c := -logAccept
		if isLog {
			c -= math.Log(x) // the jacobian
			x = math.Log(x)
		}
		m := math.Inf(-1)
		for j, mu := range mus {
			y[j] = -0.5*((x-mu)/s2[j]) + (lc[j] + c)
			if y[j] > m {
				m = y[j]
			}
		}
		// Goptuna's logsumRows: sum of log(exp(y-m)), plus m.
		sum := 0.0
		for _, yj := range y {
			t := yj - m
			if t < minNormalExp {
				t = math.Log(math.Exp(t))
			}
			sum += t
		}
		out[i] = sum + m
	}
	return out
}

func fillNaN(xs []float64) {
	for i := range xs {
		xs[i] = math.NaN()
	}
}

// bincount is tpe's bincount, including its use of weights[category]
// rather than the observation's own weight.
func bincount(x []int, weights []float64, minlength int) []float64 {
	counts := make([]float64, minlength)
	for _, c := range x {
		for c > len(counts)-1 {
			counts = append(counts, 0)
		}
		if c > len(weights)-1 {
			counts[c]++
		} else {
			counts[c] += weights[c]
		}
	}
	return counts
}

func (s *tpeSampler) categoricalPMF(obs []float64, upper int) []float64 {
	ints := make([]int, len(obs))
	for i, x := range obs {
		ints[i] = int(x)
	}
	counts := bincount(ints, s.params.Weights(len(obs)), upper)
	p := make([]float64, len(counts))
	sum := 0.0
	for i, c := range counts {
		p[i] = c + s.params.PriorWeight
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

func (s *tpeSampler) sampleCategorical(d goptuna.CategoricalDistribution, below, above []float64) float64 {
	upper := len(d.Choices)
	size := s.candidates
	if s.candidates >= upper {
		size = upper
	}
	pBelow := s.categoricalPMF(below, upper)
	samples := make([]int, size)
	if s.candidates != size {
		for i := range samples {
			samples[i] = i
		}
	} else {
		// random.Multinomial(1, pBelow, size); an unmatched draw is 0.
		cum := cumsum(pBelow)
		for i := range samples {
			r := s.pick.Float64()
			for k, c := range cum {
				if c > r {
					samples[i] = k
					break
				}
			}
		}
	}
	pAbove := s.categoricalPMF(above, upper)
	logL := make([]float64, size)
	logG := make([]float64, size)
	for i, c := range samples {
		logL[i] = math.Log(pBelow[c])
		logG[i] = math.Log(pAbove[c])
	}
	return float64(samples[argMaxScore(logL, logG)])
}
