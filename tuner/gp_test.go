package tuner

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"testing"

	"github.com/tune-dev/tune/trials"
)

func TestMatern52(t *testing.T) {
	if got := matern52(0, 2); got != 2 {
		t.Errorf("k(0) = %v, want the scale 2", got)
	}
	r := math.Sqrt(5)
	want := 1.5 * (1 + r + 5.0/3) * math.Exp(-r)
	if got := matern52(1, 1.5); math.Abs(got-want) > 1e-15 {
		t.Errorf("k(r²=1) = %v, want %v", got, want)
	}
	prev := matern52(0, 1)
	for r2 := 0.01; r2 < 50; r2 *= 1.5 {
		k := matern52(r2, 1)
		if !(k < prev) || k <= 0 {
			t.Fatalf("k(%v) = %v does not fall from %v", r2, k, prev)
		}
		prev = k
	}
	// ARD: a dim with a larger inverse length scale counts for more, and
	// categories count 0 or 1 whatever their indices.
	cat := []bool{false, true}
	isl := []float64{4, 0.5}
	if got := sqDist([]float64{0.1, 0}, []float64{0.6, 2}, isl, cat); math.Abs(got-(4*0.25+0.5)) > 1e-15 {
		t.Errorf("sqDist = %v, want %v", got, 4*0.25+0.5)
	}
	if got := sqDist([]float64{0.3, 1}, []float64{0.3, 1}, isl, cat); got != 0 {
		t.Errorf("sqDist of a point to itself = %v", got)
	}
}

// randomSPD returns a random symmetric positive definite n×n matrix.
func randomSPD(rng *rand.Rand, n int) []float64 {
	b := make([]float64, n*n)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	a := make([]float64, n*n)
	for i := range n {
		for j := range n {
			s := 0.0
			for k := range n {
				s += b[i*n+k] * b[j*n+k]
			}
			a[i*n+j] = s
		}
		a[i*n+i] += 0.1
	}
	return a
}

// gaussSolve solves a·x = b by Gaussian elimination with partial pivoting.
func gaussSolve(a []float64, n int, b []float64) []float64 {
	m := append([]float64(nil), a...)
	x := append([]float64(nil), b...)
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r*n+c]) > math.Abs(m[p*n+c]) {
				p = r
			}
		}
		for k := range n {
			m[c*n+k], m[p*n+k] = m[p*n+k], m[c*n+k]
		}
		x[c], x[p] = x[p], x[c]
		for r := c + 1; r < n; r++ {
			f := m[r*n+c] / m[c*n+c]
			for k := c; k < n; k++ {
				m[r*n+k] -= f * m[c*n+k]
			}
			x[r] -= f * x[c]
		}
	}
	for r := n - 1; r >= 0; r-- {
		s := x[r]
		for k := r + 1; k < n; k++ {
			s -= m[r*n+k] * x[k]
		}
		x[r] = s / m[r*n+r]
	}
	return x
}

func TestCholeskySolveMatchesGaussianElimination(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 7, 40} {
		a := randomSPD(rng, n)
		b := make([]float64, n)
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		want := gaussSolve(a, n, b)
		L := append([]float64(nil), a...)
		if !cholesky(L, n) {
			t.Fatalf("n=%d: a positive definite matrix was refused", n)
		}
		got := append([]float64(nil), b...)
		cholSolve(L, n, got)
		for i := range n {
			if math.Abs(got[i]-want[i]) > 1e-8*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("n=%d: x[%d] = %v, want %v", n, i, got[i], want[i])
			}
		}
		inv := make([]float64, n*n)
		cholInverse(L, n, inv)
		for i := range n {
			for j := range n {
				s := 0.0
				for k := range n {
					s += a[i*n+k] * inv[k*n+j]
				}
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(s-want) > 1e-8 {
					t.Fatalf("n=%d: (A·A⁻¹)[%d][%d] = %v", n, i, j, s)
				}
			}
		}
	}
	// Not positive definite: refused, not a NaN factor.
	if cholesky([]float64{1, 2, 2, 1}, 2) {
		t.Error("an indefinite matrix was factored")
	}
	if cholesky([]float64{0}, 1) {
		t.Error("a zero matrix was factored")
	}
}

func TestGPObjectiveGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const n, d = 25, 3
	cat := []bool{false, false, true}
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		X[i] = []float64{rng.Float64(), rng.Float64(), float64(rng.Intn(3))}
		y[i] = math.Sin(6*X[i][0]) + X[i][1]*X[i][1] + 0.3*X[i][2] + 0.05*rng.NormFloat64()
	}
	y = standardize(y)
	f := gpObjective(X, y, cat)
	theta := []float64{0.3, -0.5, 0.1, 0.2, math.Log(0.05)}
	grad := make([]float64, len(theta))
	f0 := f(theta, grad)
	if math.IsInf(f0, 0) || math.IsNaN(f0) {
		t.Fatalf("objective %v", f0)
	}
	for i := range theta {
		const h = 1e-5
		up := append([]float64(nil), theta...)
		dn := append([]float64(nil), theta...)
		up[i] += h
		dn[i] -= h
		num := (f(up, nil) - f(dn, nil)) / (2 * h)
		if math.Abs(num-grad[i]) > 1e-4*math.Max(1, math.Abs(num)) {
			t.Errorf("d/dθ%d: analytic %v, numeric %v", i, grad[i], num)
		}
	}
	fit := gpFit(X, y, cat, gpDefaultTheta(d))
	if got, start := f(fit, nil), f(gpDefaultTheta(d), nil); !(got < start) {
		t.Errorf("the fit did not improve the objective: %v from %v", got, start)
	}
	// The first dim carries the most signal: its length scale is shortest.
	if !(fit[0] > fit[2]) {
		t.Errorf("log inverse squared length scales %v: the sin dim should be the shortest", fit[:d])
	}
}

func TestLogEIMonotone(t *testing.T) {
	prev := math.Inf(-1)
	// A lower mean (more improvement) never lowers EI, far into the tail.
	for m := 40.0; m > -5; m -= 0.25 {
		v := logEI(m, 1, 0)
		if math.IsNaN(v) || v < prev-1e-9 {
			t.Fatalf("logEI(mean %v) = %v after %v", m, v, prev)
		}
		prev = v
	}
	// At a fixed mean above the best, more variance means more EI.
	prev = math.Inf(-1)
	for s2 := 1e-6; s2 < 100; s2 *= 2 {
		v := logEI(1, s2, 0)
		if math.IsNaN(v) || v < prev {
			t.Fatalf("logEI(variance %v) = %v after %v", s2, v, prev)
		}
		prev = v
	}
	// The tail series meets the direct formula.
	if a, b := logH(-5.999999), logH(-6.000001); math.Abs(a-b) > 1e-3 {
		t.Errorf("logH jumps at -6: %v against %v", a, b)
	}
	if v := logEI(0, 1, 0); math.Abs(v-math.Log(1/math.Sqrt(2*math.Pi))) > 1e-12 {
		t.Errorf("logEI at the best = %v, want log φ(0)", v)
	}
}

func TestStandardizeAllEqual(t *testing.T) {
	for _, v := range standardize([]float64{3, 3, 3}) {
		if v != 0 {
			t.Fatalf("all-equal values standardize to %v, want 0", v)
		}
	}
	got := standardize([]float64{1, 3})
	if got[0] != -1 || got[1] != 1 {
		t.Errorf("standardize(1, 3) = %v, want [-1 1]", got)
	}
}

// gpStudy is a GP study of the five knobs (log float, log int, two
// categoricals, int) with fixed seed.
func gpStudy(id, seed int64) *trials.Study {
	s := newStudy(id, trials.SamplerGP, knobs())
	s.Sampler.Seed = ptr(seed)
	return s
}

func TestGPReproducibleWithSeed(t *testing.T) {
	run := func(seed int64) []map[string]any {
		src := newMemSource()
		tn := New(src)
		f := knobLoss(rand.New(rand.NewSource(9)))
		var out []map[string]any
		for _, tr := range optimize(t, tn, src, gpStudy(1, seed), 25, f) {
			out = append(out, tr.Params)
		}
		return out
	}
	a, b := run(5), run(5)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of a seeded GP study proposed different params")
	}
	if c := run(6); reflect.DeepEqual(a[15:], c[15:]) {
		t.Error("another seed proposed the same params")
	}
}

func TestGPOriginsAndAutoHandover(t *testing.T) {
	src := newMemSource()
	tn := New(src)
	s := gpStudy(1, 3)
	s.Sampler.StartupTrials = ptr(4)
	f := knobLoss(rand.New(rand.NewSource(1)))
	got := origins(t, tn, src, s, 7, f)
	want := []trials.Origin{OriginStartup, OriginStartup, OriginStartup, OriginStartup, OriginGP, OriginGP, OriginGP}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("origins %v, want %v", got, want)
	}

	// The default hands over to the multivariate TPE at gpAutoTrials.
	a := newStudy(2, "", knobs())
	if a.Sampler.Type != trials.SamplerAuto {
		t.Fatalf("default sampler %q, want %q", a.Sampler.Type, trials.SamplerAuto)
	}
	snap := make([]*entry, gpAutoTrials)
	for i := range snap {
		snap[i] = &entry{t: trials.Trial{State: trials.TrialComplete}}
	}
	if o := origin(a, snap[:gpAutoTrials-1]); o != OriginGP {
		t.Errorf("auto with %d finished trials: origin %q, want gp", gpAutoTrials-1, o)
	}
	if o := origin(a, snap); o != OriginTPE {
		t.Errorf("auto with %d finished trials: origin %q, want tpe", gpAutoTrials, o)
	}
	if o := origin(a, snap[:3]); o != OriginStartup {
		t.Errorf("auto with 3 finished trials: origin %q, want startup", o)
	}

	// auto hands over to the TPE at once where the GP cannot model the
	// history: several objectives, constraints, or trials that failed in a
	// way that says their region is infeasible; not for other failures.
	few := snap[:20]
	mo := *a
	mo.Objective, mo.Objectives = trials.Objective{}, []trials.Objective{{Metric: "a"}, {Metric: "b"}}
	constrained := *a
	bound := 1.0
	constrained.Constraints = []trials.Constraint{{Metric: "mem", Max: &bound}}
	withFailure := func(kind trials.FailureKind) []*entry {
		return append(slices.Clone(few), &entry{t: trials.Trial{State: trials.TrialFailed, FailureKind: kind}})
	}
	for name, c := range map[string]struct {
		s    trials.Study
		snap []*entry
		want trials.Origin
	}{
		"several objectives": {mo, few, OriginTPE},
		"constraints":        {constrained, few, OriginTPE},
		"an oom failure":     {*a, withFailure(trials.FailureOOM), OriginTPE},
		"a diverged failure": {*a, withFailure(trials.FailureDiverged), OriginTPE},
		"an error failure":   {*a, withFailure(trials.FailureError), OriginGP},
		"a preempted trial":  {*a, withFailure(trials.FailurePreempted), OriginGP},
	} {
		if o := origin(&c.s, c.snap); o != c.want {
			t.Errorf("auto with %s: origin %q, want %q", name, o, c.want)
		}
	}
}

// TestGPInFlightSpread checks that proposals handed out while others run
// are all different configurations, and that the Kriging believer lowers
// the uncertainty at a pending point.
func TestGPInFlightSpread(t *testing.T) {
	tb := loadHPOTable(t, "../bench/quality/data/hpobench/segment.csv.gz")
	src := newMemSource()
	tn := New(src)
	s := newStudy(1, trials.SamplerGP, tb.space())
	s.Objective.Direction = trials.Maximize
	s.Sampler.Seed = ptr(int64(4))
	noise := rand.New(rand.NewSource(1))
	tell := func(tr trials.Trial) {
		runs := tb.runs[tb.config(tr.Params)]
		done := src.complete(tr.ID, runs[noise.Intn(len(runs))])
		tn.Observe(&done)
	}
	seen := map[int]bool{}
	for range 20 {
		tr := ask(t, tn, src, s)
		seen[tb.config(tr.Params)] = true
		tell(tr)
	}
	var running []trials.Trial
	for range 8 {
		tr := ask(t, tn, src, s)
		k := tb.config(tr.Params)
		if seen[k] {
			t.Errorf("proposal %v repeats a configuration tried or in flight", tr.Params)
		}
		seen[k] = true
		running = append(running, tr)
	}
	for _, tr := range running {
		tell(tr)
	}

	X := [][]float64{{0.1}, {0.5}, {0.9}}
	y := standardize([]float64{1, 0, 2})
	cat := []bool{false}
	theta := []float64{math.Log(4), 0, math.Log(0.01)}
	post := newGPPosterior(X, y, cat, theta)
	p := []float64{0.3}
	m, v := post.predict(p)
	kb := newGPPosterior(append(X, p), append(y, m), cat, theta)
	m2, v2 := kb.predict(p)
	if math.Abs(m2-m) > 1e-6 || !(v2 < v/2) {
		t.Errorf("believer at %v: mean %v → %v (want unchanged), variance %v → %v (want much lower)", p, m, m2, v, v2)
	}
}

// TestGPDegenerateHistory gives the GP histories it must survive: every
// value equal, and a space whose every param but one is fixed.
func TestGPDegenerateHistory(t *testing.T) {
	src := newMemSource()
	tn := New(src)
	s := gpStudy(1, 7)
	trs := optimize(t, tn, src, s, 20, func(map[string]any) float64 { return 0.5 })
	seen := map[string]bool{}
	for _, tr := range trs {
		if _, err := s.SearchSpace.Decode(tr.Params); err != nil {
			t.Fatalf("params %v: %v", tr.Params, err)
		}
		seen[fmt.Sprint(tr.Params)] = true
	}
	if len(seen) < 18 {
		t.Errorf("all-equal values: only %d distinct configurations in 20 trials", len(seen))
	}

	fixed := trials.SearchSpace{
		"a": {Type: trials.Int, Low: 3, High: 3},
		"b": {Type: trials.Categorical, Choices: []any{"only"}},
		"c": {Type: trials.Float, Low: 0, High: 1, Step: ptr(0.25)},
	}
	f := newStudy(2, trials.SamplerGP, fixed)
	f.Sampler.Seed = ptr(int64(1))
	trs = optimize(t, tn, src, f, 15, func(p map[string]any) float64 { return p["c"].(float64) })
	for _, tr := range trs {
		if _, err := fixed.Decode(tr.Params); err != nil {
			t.Fatalf("params %v: %v", tr.Params, err)
		}
	}
}

func TestNormalScores(t *testing.T) {
	got := normalScores([]float64{5, 1, 100, 1, 3})
	// Ranks, not distances: 100 is one step above 5, and the tied 1s share
	// a score.
	if got[1] != got[3] || !(got[1] < got[4] && got[4] < got[0] && got[0] < got[2]) {
		t.Errorf("normalScores = %v: not in the values' order", got)
	}
	if math.Abs((got[2]-got[0])-(got[0]-got[4])) > 0.5 {
		t.Errorf("normalScores = %v: an outlier stretched the scale", got)
	}
	for _, v := range normalScores([]float64{2, 2, 2}) {
		if v != 0 || math.IsNaN(v) {
			t.Fatalf("all-equal values score %v, want 0", v)
		}
	}
}
