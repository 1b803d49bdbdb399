package mnist

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Solver implementations. "fused" (the default) runs the update rules of
// gorgonia's AdamSolver, VanillaSolver, Momentum and RMSPropSolver, with
// their defaults, as one loop per parameter tensor that allocates nothing;
// "gorgonia" uses gorgonia's solvers themselves, which clone several
// temporaries per tensor per step (Adam: four), costing about as much as
// the whole forward pass of this MLP. Tests check that both agree.
const (
	SolverFused    = "fused"
	SolverGorgonia = "gorgonia"
)

// newSolver returns the optimizer cfg asks for.
func newSolver(cfg Config) (G.Solver, error) {
	lr := cfg.LearningRate
	if cfg.SolverImpl == SolverGorgonia {
		switch cfg.Optimizer {
		case "adam":
			return G.NewAdamSolver(G.WithLearnRate(lr)), nil
		case "sgd":
			return G.NewVanillaSolver(G.WithLearnRate(lr)), nil
		case "momentum":
			return G.NewMomentum(G.WithLearnRate(lr), G.WithMomentum(cfg.Momentum)), nil
		case "rmsprop":
			return G.NewRMSPropSolver(G.WithLearnRate(lr), G.WithRho(cfg.Momentum)), nil
		}
		return nil, fmt.Errorf("unknown optimizer %q", cfg.Optimizer)
	}
	s := &fusedSolver{kind: cfg.Optimizer, eta: lr, momentum: cfg.Momentum,
		beta1: 0.9, beta2: 0.999, eps: 1e-8}
	switch cfg.Optimizer {
	case "adam", "sgd", "momentum", "rmsprop":
		return s, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q", cfg.Optimizer)
}

// fusedSolver is a gorgonia Solver. Its state (Adam's first and second
// moments, the momentum velocity, RMSProp's mean square) lives in slices
// of the parameters' own precision, allocated on the first step.
type fusedSolver struct {
	kind              string
	eta, momentum     float64
	beta1, beta2, eps float64
	iter              int
	state1, state2    []any // per parameter: []float32 or []float64
}

// Step updates every parameter from its gradient and zeroes the gradient,
// as gorgonia's solvers do.
func (s *fusedSolver) Step(model []G.ValueGrad) error {
	if s.state1 == nil {
		s.state1 = make([]any, len(model))
		s.state2 = make([]any, len(model))
	}
	s.iter++
	for i, n := range model {
		w, ok := n.Value().(*tensor.Dense)
		if !ok {
			return fmt.Errorf("solver: parameter %d is a %T, not a tensor", i, n.Value())
		}
		gv, err := n.Grad()
		if err != nil {
			return fmt.Errorf("solver: parameter %d has no gradient: %w", i, err)
		}
		g, ok := gv.(*tensor.Dense)
		if !ok {
			return fmt.Errorf("solver: gradient %d is a %T, not a tensor", i, gv)
		}
		switch wd := w.Data().(type) {
		case []float32:
			gd, ok := g.Data().([]float32)
			if !ok || len(gd) != len(wd) {
				return fmt.Errorf("solver: gradient %d does not match its parameter", i)
			}
			stepSlice(s, i, wd, gd)
		case []float64:
			gd, ok := g.Data().([]float64)
			if !ok || len(gd) != len(wd) {
				return fmt.Errorf("solver: gradient %d does not match its parameter", i)
			}
			stepSlice(s, i, wd, gd)
		default:
			return fmt.Errorf("solver: parameter %d has dtype %v", i, w.Dtype())
		}
	}
	return nil
}

func state[T float32 | float64](slot *any, n int) []T {
	if *slot == nil {
		*slot = make([]T, n)
	}
	return (*slot).([]T)
}

// stepSlice applies one update to parameter i (w) from its gradient g,
// computing in the parameter's precision like gorgonia does, and zeroes g.
func stepSlice[T float32 | float64](s *fusedSolver, i int, w, g []T) {
	eta := T(s.eta)
	switch s.kind {
	case "sgd":
		// w -= η·g
		for j := range w {
			w[j] -= eta * g[j]
		}
	case "momentum":
		// c = μ·c − η·g; w += c
		c := state[T](&s.state1[i], len(w))
		mu := T(s.momentum)
		for j := range w {
			c[j] = mu*c[j] - eta*g[j]
			w[j] += c[j]
		}
	case "rmsprop":
		// c = ρ·c + (1−ρ)·g²; w −= η·g/√(c+ε)
		c := state[T](&s.state1[i], len(w))
		rho := T(s.momentum)
		omrho := 1 - rho
		eps := T(s.eps)
		for j := range w {
			gj := g[j]
			c[j] = rho*c[j] + omrho*gj*gj
			w[j] -= eta * gj / T(math.Sqrt(float64(c[j]+eps)))
		}
	case "adam":
		// m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
		// w −= η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
		m := state[T](&s.state1[i], len(w))
		v := state[T](&s.state2[i], len(w))
		b1, b2 := T(s.beta1), T(s.beta2)
		omb1, omb2 := 1-b1, 1-b2
		c1 := T(1 / (1 - math.Pow(s.beta1, float64(s.iter))))
		c2 := T(1 / (1 - math.Pow(s.beta2, float64(s.iter))))
		eps := T(s.eps)
		for j := range w {
			gj := g[j]
			m[j] = b1*m[j] + omb1*gj
			v[j] = b2*v[j] + omb2*gj*gj
			w[j] -= eta * (m[j] * c1) / (T(math.Sqrt(float64(v[j]*c2))) + eps)
		}
	}
	clear(g)
}
