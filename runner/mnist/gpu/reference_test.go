package gpu

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// toyData is a learnable problem: the label is which of the first three
// pixel groups is brightest.
func toyData(n int) *Data {
	rng := rand.New(rand.NewPCG(1, 2))
	split := func(n int) Dataset {
		d := Dataset{N: n, Features: 12, Pixels: make([]byte, n*12), Labels: make([]byte, n)}
		for i := range n {
			var sums [3]int
			for j := range 12 {
				p := byte(rng.IntN(256))
				d.Pixels[i*12+j] = p
				sums[j%3] += int(p)
			}
			best := 0
			for k := range sums {
				if sums[k] > sums[best] {
					best = k
				}
			}
			d.Labels[i] = byte(best)
		}
		return d
	}
	return &Data{Train: split(n), Test: split(n / 2), Classes: 3}
}

func toyConfig() Config {
	return Config{BatchSize: 16, LearningRate: 0.01, Activation: "relu", Precision: "float64", Workers: 1,
		HiddenUnits: 16, Layers: 1, Optimizer: "adam", Epochs: 4, Momentum: 0.9}
}

type reports struct{ metrics []map[string]float64 }

func (r *reports) Report(_ context.Context, _ int, m map[string]float64, _ *trials.Profile) (bool, error) {
	r.metrics = append(r.metrics, m)
	return false, nil
}

func TestReferenceLearns(t *testing.T) {
	for _, prec := range []string{"float32", "float64"} {
		cfg := toyConfig()
		cfg.Precision = prec
		r := &reports{}
		final, err := TrainReference(context.Background(), cfg, toyData(480), 0, r)
		if err != nil {
			t.Fatal(err)
		}
		first, last := r.metrics[0]["train_loss"], r.metrics[len(r.metrics)-1]["train_loss"]
		if !(last < first) || final["val_accuracy"] < 0.6 {
			t.Errorf("%s: train_loss %.4f → %.4f, val_accuracy %.3f: not learning", prec, first, last, final["val_accuracy"])
		}
	}
}

// TestReferenceWorkersAccumulate: workers split the batch and add up
// their gradients before one step, so the curve is the one-worker curve.
func TestReferenceWorkersAccumulate(t *testing.T) {
	var curves [][]map[string]float64
	for _, w := range []int{1, 3, 16} {
		cfg := toyConfig()
		cfg.Workers = w
		r := &reports{}
		if _, err := TrainReference(context.Background(), cfg, toyData(160), 0, r); err != nil {
			t.Fatal(err)
		}
		curves = append(curves, r.metrics)
	}
	for i := 1; i < len(curves); i++ {
		for e := range curves[0] {
			a, b := curves[0][e]["val_loss"], curves[i][e]["val_loss"]
			if math.Abs(a-b) > 1e-10 {
				t.Errorf("epoch %d: val_loss %.12g with one worker, %.12g with more", e+1, a, b)
			}
		}
	}
}

// TestActivationDerivatives: each derivative written in terms of the
// output (what act_grad gets) is the derivative of the activation.
func TestActivationDerivatives(t *testing.T) {
	for k, name := range activations {
		for _, z := range []float64{-3, -0.7, -0.01, 0.02, 0.5, 2.5} {
			const h = 1e-6
			numeric := (activate(k, z+h) - activate(k, z-h)) / (2 * h)
			got := activationDeriv(k, activate(k, z))
			if math.Abs(numeric-got) > 1e-6 {
				t.Errorf("%s'(%g) = %g from the output, %g numerically", name, z, got, numeric)
			}
		}
	}
}

// TestReferenceGemm checks the reference gemm's four transposition cases
// against a direct product.
func TestReferenceGemm(t *testing.T) {
	be := &refBackend[float64]{}
	// A is 2×3, B is 3×2, C = A·B is 2×2.
	a := []float64{1, 2, 3, 4, 5, 6}
	b := []float64{7, 8, 9, 10, 11, 12}
	at := []float64{1, 4, 2, 5, 3, 6}    // Aᵀ stored 3×2
	bt := []float64{7, 9, 11, 8, 10, 12} // Bᵀ stored 2×3
	want := []float64{58, 64, 139, 154}
	for _, c := range []struct {
		tA, tB   bool
		a, b     []float64
		lda, ldb int
	}{{false, false, a, b, 3, 2}, {true, false, at, b, 2, 2}, {false, true, a, bt, 3, 3}, {true, true, at, bt, 2, 3}} {
		out := refBuf[float64]{r: []float64{1, 1, 1, 1}}
		if err := be.gemm(c.tA, c.tB, 2, 2, 3, 1, refBuf[float64]{r: c.a}, c.lda, refBuf[float64]{r: c.b}, c.ldb, 0, out, 2); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if out.r[i] != want[i] {
				t.Errorf("tA=%v tB=%v: %v, want %v", c.tA, c.tB, out.r, want)
				break
			}
		}
	}
}

func TestReferenceRefusesBadInput(t *testing.T) {
	good := toyData(32)
	for _, c := range []struct {
		name string
		cfg  func(*Config)
		data func(*Data)
		want string
	}{
		{"activation", func(c *Config) { c.Activation = "swish" }, nil, "unknown activation"},
		{"optimizer", func(c *Config) { c.Optimizer = "lbfgs" }, nil, "unknown optimizer"},
		{"precision", func(c *Config) { c.Precision = "float16" }, nil, "unknown precision"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, nil, "at least 1"},
		{"label", nil, func(d *Data) { d.Train.Labels[0] = 7 }, "not below the class count"},
		{"sizes", nil, func(d *Data) { d.Test.Pixels = d.Test.Pixels[:3] }, "sizes disagree"},
	} {
		cfg := toyConfig()
		d := *good
		d.Train.Labels = append([]byte(nil), good.Train.Labels...)
		if c.cfg != nil {
			c.cfg(&cfg)
		}
		if c.data != nil {
			c.data(&d)
		}
		_, err := TrainReference(context.Background(), cfg, &d, 0, &reports{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

type pruner struct{ after int }

func (p pruner) Report(_ context.Context, step int, _ map[string]float64, _ *trials.Profile) (bool, error) {
	return step >= p.after, nil
}

func TestReferencePrunesAndCancels(t *testing.T) {
	_, err := TrainReference(context.Background(), toyConfig(), toyData(64), 0, pruner{after: 2})
	if !errors.Is(err, workload.ErrPruned) {
		t.Errorf("pruned after epoch 2: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := TrainReference(ctx, toyConfig(), toyData(64), 0, &reports{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLaunchesPerStep pins the fusion: per share of a batch, one gather,
// per layer a gemm (plus a fused bias+activation on hidden layers), one
// fused softmax cross-entropy, then per layer two gemms for the weight and
// bias gradients and, below the top, a gemm and an activation derivative
// for the input's gradient; then one optimizer launch for every
// parameter.
func TestLaunchesPerStep(t *testing.T) {
	for _, c := range []struct{ layers, workers, want int }{
		{1, 1, 12}, {2, 1, 18}, {1, 4, 4*11 + 1}, // 6·layers + 6 with one worker
	} {
		cfg := toyConfig()
		cfg.Layers, cfg.Workers, cfg.Epochs = c.layers, c.workers, 1
		final, err := TrainReference(context.Background(), cfg, toyData(64), 0, &reports{})
		if err != nil {
			t.Fatal(err)
		}
		if got := final["launches_per_step"]; got != float64(c.want) {
			t.Errorf("layers %d workers %d: %g launches per step, want %d", c.layers, c.workers, got, c.want)
		}
	}
}
