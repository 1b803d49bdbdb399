package mnist

import (
	"fmt"
	"math"
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// scheduledLR is the learning rate of optimizer step s (0-based) of total:
// a linear warmup over the first warmup steps, from base/warmup up to
// base, then the schedule over the steps that remain:
//
//	constant: base
//	cosine:   base·(1+cos(π·t))/2, t going from 0 to 1 over the rest
//	step:     base, ×0.1 from half of the rest, ×0.01 from three quarters
func scheduledLR(kind string, base float64, warmup, total, s int) float64 {
	if s < warmup {
		return base * float64(s+1) / float64(warmup)
	}
	rest := total - warmup
	if rest <= 0 {
		return base
	}
	t := float64(s-warmup) / float64(rest)
	switch kind {
	case "cosine":
		return base * (1 + math.Cos(math.Pi*t)) / 2
	case "step":
		switch {
		case t >= 0.75:
			return base * 0.01
		case t >= 0.5:
			return base * 0.1
		}
	}
	return base
}

// setLR sets a solver's learning rate for its next step. The fused
// solvers are ours; gorgonia's keep theirs in an unexported field eta
// (v0.9.18), set through reflection; newTrainer checks that it can be
// before a trial with a schedule starts.
func setLR(s G.Solver, lr float64) error {
	if f, ok := s.(*fusedSolver); ok {
		f.eta = lr
		return nil
	}
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("cannot set the learning rate of a %T", s)
	}
	f := v.Elem().FieldByName("eta")
	if !f.IsValid() || f.Kind() != reflect.Float64 {
		return fmt.Errorf("cannot set the learning rate of a %T", s)
	}
	*(*float64)(unsafe.Pointer(f.UnsafeAddr())) = lr
	return nil
}

// clipGrads scales the gradients down so that their global L2 norm (over
// every parameter) is at most bound, and returns the norm before.
func clipGrads(grads []*tensor.Dense, bound float64) float64 {
	var sq float64
	for _, g := range grads {
		switch d := g.Data().(type) {
		case []float32:
			for _, x := range d {
				sq += float64(x) * float64(x)
			}
		case []float64:
			for _, x := range d {
				sq += x * x
			}
		}
	}
	norm := math.Sqrt(sq)
	if bound <= 0 || norm <= bound {
		return norm
	}
	scaleGrads(grads, bound/norm)
	return norm
}

func scaleGrads(grads []*tensor.Dense, f float64) {
	for _, g := range grads {
		switch d := g.Data().(type) {
		case []float32:
			for j := range d {
				d[j] *= float32(f)
			}
		case []float64:
			for j := range d {
				d[j] *= f
			}
		}
	}
}

// accumulate adds the batch gradient in grads to acc and zeroes grads
// (the tape machine adds to what the gradients hold).
func accumulate(acc []any, grads []*tensor.Dense) {
	for i, g := range grads {
		switch d := g.Data().(type) {
		case []float32:
			axpy(state[float32](&acc[i], len(d)), d, 1)
			clear(d)
		case []float64:
			axpy(state[float64](&acc[i], len(d)), d, 1)
			clear(d)
		}
	}
}

// takeAccumulated sets grads to (grads + acc)/n, the mean of n batch
// gradients, and zeroes acc.
func takeAccumulated(acc []any, grads []*tensor.Dense, n int) {
	inv := 1 / float64(n)
	for i, g := range grads {
		switch d := g.Data().(type) {
		case []float32:
			a := state[float32](&acc[i], len(d))
			for j := range d {
				d[j] = (d[j] + a[j]) * float32(inv)
			}
			clear(a)
		case []float64:
			a := state[float64](&acc[i], len(d))
			for j := range d {
				d[j] = (d[j] + a[j]) * inv
			}
			clear(a)
		}
	}
}
