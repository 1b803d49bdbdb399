package mnist

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// TestFusedSolversMatchGorgonia trains the same batches with the fused
// solvers and with gorgonia's own and compares the parameters after a
// few steps.
func TestFusedSolversMatchGorgonia(t *testing.T) {
	cfg0, err := ConfigFor(small(map[string]any{"train_samples": 256}), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg0)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"adam", "sgd", "momentum", "rmsprop"} {
		for _, prec := range []string{"float32", "float64"} {
			t.Run(fmt.Sprintf("%s/%s", opt, prec), func(t *testing.T) {
				train := func(impl string) []*tensor.Dense {
					cfg := cfg0
					cfg.Optimizer, cfg.Precision, cfg.SolverImpl = opt, prec, impl
					cfg.LearningRate, cfg.Momentum = 0.01, 0.8
					tr, err := newTrainer(cfg, data, 2)
					if err != nil {
						t.Fatal(err)
					}
					tr.shuffle()
					for s := range 5 {
						if _, err := tr.step(tr.perm[s*tr.batch : (s+1)*tr.batch]); err != nil {
							t.Fatal(err)
						}
					}
					return tr.replicas[0].values()
				}
				fused, ref := train(SolverFused), train(SolverGorgonia)
				tol := 1e-10
				if prec == "float32" {
					tol = 2e-5
				}
				for p := range fused {
					a, b := asFloat64s(fused[p]), asFloat64s(ref[p])
					for i := range a {
						if d := math.Abs(a[i] - b[i]); d > tol {
							t.Fatalf("param %d[%d]: fused %g, gorgonia %g", p, i, a[i], b[i])
						}
					}
				}
			})
		}
	}
}

func asFloat64s(d *tensor.Dense) []float64 {
	switch v := d.Data().(type) {
	case []float64:
		return v
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return nil
}
