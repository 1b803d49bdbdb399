package mnist

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// TestGradientsMatchFiniteDifferences checks gorgonia's gradients of the
// loss graph against central differences, in float64, for every
// activation.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	ds := synthetic(8, 5, 3, 1)
	for _, act := range []string{"relu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus"} {
		t.Run(act, func(t *testing.T) {
			a := arch{dtype: tensor.Float64, inputs: ds.Features(), hidden: 4, layers: 2, classes: 3, activation: act}
			initial := initParams(a, rand.New(rand.NewPCG(1, 2)))
			// non-zero biases so every path is exercised
			for i := 1; i < len(initial); i += 2 {
				b := initial[i].Data().([]float64)
				for j := range b {
					b[j] = 0.1 * float64(j%3-1)
				}
			}
			n, err := newNet(a, ds.N, initial, true)
			if err != nil {
				t.Fatal(err)
			}
			idx := make([]int, ds.N)
			for i := range idx {
				idx[i] = i
			}
			lossAt := func() float64 {
				n.fill(ds, idx)
				if err := n.run(); err != nil {
					t.Fatal(err)
				}
				return n.costValue()
			}
			lossAt()
			gs, err := n.grads()
			if err != nil {
				t.Fatal(err)
			}
			analytic := make([][]float64, len(gs))
			for i, g := range gs {
				analytic[i] = append([]float64(nil), g.Data().([]float64)...)
				g.Zero()
			}
			for p, v := range n.values() {
				w := v.Data().([]float64)
				for j := range w {
					const h = 1e-6
					orig := w[j]
					w[j] = orig + h
					up := lossAt()
					w[j] = orig - h
					down := lossAt()
					w[j] = orig
					for _, g := range gs {
						g.Zero()
					}
					num := (up - down) / (2 * h)
					if d := math.Abs(num - analytic[p][j]); d > 1e-5*math.Max(1, math.Abs(num)) {
						t.Errorf("param %d[%d]: analytic %g, numeric %g", p, j, analytic[p][j], num)
					}
				}
			}
		})
	}
}

// synthetic makes n examples of rows×cols pixels with labels < classes.
func synthetic(n, side, classes int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, seed))
	ds := &Dataset{N: n, Rows: side, Cols: side, Pixels: make([]byte, n*side*side), Labels: make([]byte, n)}
	for i := range ds.Pixels {
		ds.Pixels[i] = byte(rng.IntN(256))
	}
	for i := range ds.Labels {
		ds.Labels[i] = byte(rng.IntN(classes))
	}
	return ds
}
