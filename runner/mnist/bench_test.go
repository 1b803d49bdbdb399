package mnist

import (
	"testing"
)

func benchmarkStep(b *testing.B, precision string, batch, workers int) {
	w := New(Options{})
	cfg := DefaultConfig()
	cfg.Precision = precision
	cfg.BatchSize = batch
	cfg.Workers = workers
	cfg.TrainSamples = 8192
	cfg.TestSamples = 100
	data, err := w.Data(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := newTrainer(cfg, data, 0)
	if err != nil {
		b.Fatal(err)
	}
	steps := tr.stepsPerEpoch()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := i % steps
		if s == 0 {
			tr.shuffle()
		}
		if _, err := tr.step(tr.perm[s*tr.batch : (s+1)*tr.batch]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*tr.batch)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkStep256F32(b *testing.B)   { benchmarkStep(b, "float32", 256, 1) }
func BenchmarkStep256F32W2(b *testing.B) { benchmarkStep(b, "float32", 256, 2) }
func BenchmarkStep64F32(b *testing.B)    { benchmarkStep(b, "float32", 64, 1) }
func BenchmarkStep256F64(b *testing.B)   { benchmarkStep(b, "float64", 256, 1) }
