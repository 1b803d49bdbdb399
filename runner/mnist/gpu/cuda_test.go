//go:build tune_cuda

package gpu

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"

	"gorgonia.org/cu"
)

// These tests need a CUDA GPU and cuBLAS. Note that a tune_cuda test
// binary cannot even start where the NVIDIA driver is missing:
// gorgonia.org/cu's package init calls cuInit and exits the process with
// "Error in initialization ... NoDevice". With the driver but no device,
// or without cuBLAS, they skip.
func needGPU(t *testing.T) int {
	t.Helper()
	n, err := cu.NumDevices()
	if err != nil || n == 0 {
		t.Skipf("needs a CUDA GPU: cu.NumDevices() = %d, %v", n, err)
	}
	if _, err := LoadCuBLAS(); err != nil {
		t.Skipf("needs cuBLAS: %v", err)
	}
	return 0
}

func withCUDA(t *testing.T, double bool, f func(be *cudaBackend)) {
	t.Helper()
	idx := needGPU(t)
	// The context is current on this goroutine's thread only.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		be, err := openCUDA(idx, double)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() {
			if err := be.close(); err != nil {
				t.Error(err)
			}
		}()
		t.Logf("cuda:%d is %s; cuBLAS from %s", idx, be.name, must(LoadCuBLAS()))
		f(be)
	}()
	<-done
}

func must(s string, _ error) string { return s }

// TestCUDAKernelsMatchReference: every kernel and gemm on the GPU gives
// the reference's answer, within the precision's tolerance.
func TestCUDAKernelsMatchReference(t *testing.T) {
	for _, prec := range []string{"float32", "float64"} {
		t.Run(prec, func(t *testing.T) {
			var want map[string][]float64
			var err error
			tol := 1e-12
			if prec == "float64" {
				want, err = exercise[refBuf[float64]](&refBackend[float64]{}, prec)
			} else {
				want, err = exercise[refBuf[float32]](&refBackend[float32]{}, prec)
				tol = 2e-5
			}
			if err != nil {
				t.Fatal(err)
			}
			withCUDA(t, prec == "float64", func(be *cudaBackend) {
				got, err := exercise[devBuf](be, prec)
				if err != nil {
					t.Error(err)
					return
				}
				for name, w := range want {
					g := got[name]
					if len(g) != len(w) {
						t.Errorf("%s: %d values, want %d", name, len(g), len(w))
						continue
					}
					for i := range w {
						if math.Abs(g[i]-w[i]) > tol*max(1, math.Abs(w[i])) {
							t.Errorf("%s[%d] = %.10g on the GPU, %.10g in the reference", name, i, g[i], w[i])
							break
						}
					}
				}
			})
		})
	}
}

// TestCUDATrainsLikeReference: a whole trial on the GPU follows the
// reference's learning curve, for every optimizer, activation and
// precision, with workers.
func TestCUDATrainsLikeReference(t *testing.T) {
	needGPU(t)
	data := toyData(480)
	for _, c := range []struct {
		prec, opt, act string
		workers        int
	}{
		{"float64", "adam", "relu", 1}, {"float64", "sgd", "tanh", 1}, {"float64", "momentum", "sigmoid", 3},
		{"float64", "rmsprop", "leaky_relu", 1}, {"float64", "adam", "elu", 2}, {"float64", "adam", "softplus", 1},
		{"float32", "adam", "relu", 1}, {"float32", "rmsprop", "tanh", 4},
	} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			cfg := toyConfig()
			cfg.Precision, cfg.Optimizer, cfg.Activation, cfg.Workers = c.prec, c.opt, c.act, c.workers
			cfg.Layers = 2
			cfg.WeightDecay = 0.001
			ref := &reports{}
			if _, err := TrainReference(context.Background(), cfg, data, 2, ref); err != nil {
				t.Fatal(err)
			}
			dev := &reports{}
			res, err := Train(context.Background(), 0, cfg, data, 2, dev)
			if err != nil {
				t.Fatal(err)
			}
			// Losses within rounding of the precision; accuracy exact in
			// float64, within two test examples' flips in float32, where
			// cuBLAS's summation order moves near-ties.
			tol, accTol := 1e-7, 0.5/float64(data.Test.N)
			if c.prec == "float32" {
				tol, accTol = 2e-3, 2.5/float64(data.Test.N)
			}
			if len(dev.metrics) != len(ref.metrics) {
				t.Fatalf("GPU reported %d epochs, reference %d", len(dev.metrics), len(ref.metrics))
			}
			for e := range ref.metrics {
				for _, k := range []string{"train_loss", "val_loss", "val_accuracy"} {
					w, g := ref.metrics[e][k], dev.metrics[e][k]
					bound := tol * max(1, math.Abs(w))
					if k == "val_accuracy" {
						bound = accTol
					}
					if math.Abs(w-g) > bound {
						t.Errorf("epoch %d %s: GPU %.10g, reference %.10g", e+1, k, g, w)
					}
				}
			}
			if res.GPU == "" || res.Metrics["device_memory_bytes"] <= 0 || res.Metrics["device_memory_in_use_bytes"] <= 0 {
				t.Errorf("GPU %q, metrics %v", res.GPU, res.Metrics)
			}
			t.Logf("%s: %v", res.GPU, res.Metrics)
		})
	}
}

// TestCUDABadDevice: a device index past the machine's is an error
// naming how many there are.
func TestCUDABadDevice(t *testing.T) {
	needGPU(t)
	_, err := Train(context.Background(), 4096, toyConfig(), toyData(64), 0, &reports{})
	if err == nil {
		t.Fatal("training on cuda:4096 succeeded")
	}
	t.Log(err)
}

func TestMain(m *testing.M) {
	if n, err := cu.NumDevices(); err == nil && n > 0 {
		if d, err := cu.GetDevice(0); err == nil {
			name, _ := d.Name()
			fmt.Fprintf(os.Stderr, "runner/mnist/gpu tests: %d CUDA device(s), cuda:0 is %s; CUDA driver %d\n", n, name, cu.Version())
		}
	}
	os.Exit(m.Run())
}
