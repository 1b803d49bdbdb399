package tuner

import (
	"math"
	"sort"
)

// kgState is what the knowledge gradient needs beyond predict: the
// posterior means at the conditioning points and L⁻¹K(X, X).
type kgState struct {
	post  *gpPosterior
	noise float64
	mu    []float64 // posterior mean at each X
	V     []float64 // column i: L⁻¹k(X, x_i), stored row-major by i
	// scratch
	kx, vx, a, b []float64
}

func newKG(post *gpPosterior, noise float64) *kgState {
	n := post.n
	st := &kgState{post: post, noise: noise, mu: make([]float64, n), V: make([]float64, n*n),
		kx: make([]float64, n), vx: make([]float64, n), a: make([]float64, n+1), b: make([]float64, n+1)}
	for i := range n {
		m, _ := post.predict(post.X[i])
		st.mu[i] = m
		col := st.V[i*n : (i+1)*n]
		for a := range n {
			col[a] = matern52(sqDist(post.X[i], post.X[a], post.isl, post.cat), post.s2)
		}
		st.lsolve(col)
	}
	return st
}

// lsolve overwrites k with L⁻¹k.
func (st *kgState) lsolve(k []float64) {
	p := st.post
	for a := range p.n {
		s := k[a]
		row := p.L[a*p.n : a*p.n+a]
		for b, l := range row {
			s -= l * k[b]
		}
		k[a] = s / p.L[a*p.n+a]
	}
}

// value is the knowledge gradient of one more observation at x (values
// are minimized): how much the best posterior mean over the conditioning
// points and x is expected to drop. It is returned as a log, with -Inf
// for no expected change.
func (st *kgState) value(x []float64) float64 {
	p := st.post
	n := p.n
	mx := 0.0
	for a := range n {
		st.kx[a] = matern52(sqDist(x, p.X[a], p.isl, p.cat), p.s2)
		mx += st.kx[a] * p.alpha[a]
	}
	copy(st.vx, st.kx)
	st.lsolve(st.vx)
	vv := 0.0
	for _, v := range st.vx {
		vv += v * v
	}
	varx := math.Max(p.s2-vv, 1e-12*p.s2)
	sd := math.Sqrt(varx + st.noise)
	// Lines a_i + b_i·Z of the negated means after the observation.
	for i := range n {
		col := st.V[i*n : (i+1)*n]
		c := st.kx[i]
		for a, v := range col {
			c -= v * st.vx[a]
		}
		st.a[i], st.b[i] = -st.mu[i], c/sd
	}
	st.a[n], st.b[n] = -mx, varx/sd
	return math.Log(math.Max(expectedMaxLines(st.a, st.b), 0))
}

// expectedMaxLines is E[max_i a_i + b_i·Z] - max_i a_i for a standard
// normal Z (Frazier, Powell and Dayanik's algorithm over the upper
// envelope of the lines).
func expectedMaxLines(a, b []float64) float64 {
	n := len(a)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(x, y int) bool {
		if b[idx[x]] != b[idx[y]] {
			return b[idx[x]] < b[idx[y]]
		}
		return a[idx[x]] < a[idx[y]]
	})
	maxA := math.Inf(-1)
	for _, v := range a {
		maxA = math.Max(maxA, v)
	}
	// Upper envelope: lines in increasing slope; c[k] is where line k
	// overtakes line k-1.
	env := make([]int, 0, n)
	cs := make([]float64, 0, n)
	for _, i := range idx {
		// equal slopes: the later (larger a) wins
		for len(env) > 0 && b[env[len(env)-1]] == b[i] {
			env = env[:len(env)-1]
			cs = cs[:len(cs)-1]
		}
		for len(env) > 0 {
			j := env[len(env)-1]
			c := (a[j] - a[i]) / (b[i] - b[j])
			if c <= cs[len(cs)-1] {
				env = env[:len(env)-1]
				cs = cs[:len(cs)-1]
				continue
			}
			env = append(env, i)
			cs = append(cs, c)
			break
		}
		if len(env) == 0 {
			env = append(env, i)
			cs = append(cs, math.Inf(-1))
		}
	}
	e := 0.0
	for k, i := range env {
		lo := cs[k]
		hi := math.Inf(1)
		if k+1 < len(env) {
			hi = cs[k+1]
		}
		// ∫_lo^hi (a + bz) φ(z) dz
		e += a[i]*(normCDF(hi)-normCDF(lo)) + b[i]*(normPDF(lo)-normPDF(hi))
	}
	return e - maxA
}

func normCDF(z float64) float64 {
	if math.IsInf(z, 1) {
		return 1
	}
	if math.IsInf(z, -1) {
		return 0
	}
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

func normPDF(z float64) float64 {
	if math.IsInf(z, 0) {
		return 0
	}
	return math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi)
}
