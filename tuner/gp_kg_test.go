package tuner

import (
	"math"
	"math/rand"
	"testing"
)

// TestExpectedMaxLines checks the envelope formula against Monte Carlo on
// random lines, ties and dominated lines included.
func TestExpectedMaxLines(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for trial := range 50 {
		n := 1 + rng.Intn(8)
		a, b := make([]float64, n), make([]float64, n)
		for i := range n {
			a[i], b[i] = rng.NormFloat64(), rng.NormFloat64()
			if i > 0 && rng.Intn(4) == 0 {
				b[i] = b[i-1]
			}
		}
		maxA := math.Inf(-1)
		for _, v := range a {
			maxA = math.Max(maxA, v)
		}
		const draws = 400000
		sum := 0.0
		for range draws {
			z := rng.NormFloat64()
			m := math.Inf(-1)
			for i := range n {
				m = math.Max(m, a[i]+b[i]*z)
			}
			sum += m
		}
		mc := sum/draws - maxA
		got := expectedMaxLines(a, b)
		if math.Abs(got-mc) > 0.01 || got < -1e-12 {
			t.Errorf("case %d: a %v b %v: got %.4f, Monte Carlo %.4f", trial, a, b, got, mc)
		}
	}
}
