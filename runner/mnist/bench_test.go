package mnist

import (
	"fmt"
	"testing"
	"time"
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

// BenchmarkProfileOverhead trains the reference configuration (batch
// 128, 128 hidden units, float32, adam, 4,096 examples) with the
// per-epoch profile on and off: "on" reads the clock at every phase
// boundary, runs each tape in two parts (forward, backward) and times
// every gemm call; "off" does none of that. Memory sampling (every 16
// batches) runs either way.
//
// The two sides alternate in blocks of 8 steps within one benchmark run,
// two trainers side by side, so that a loaded machine slows both alike
// (a whole run of one side, then one of the other, compares moments of
// load, not the code). It reports each side's samples per second of wall
// time and of CPU time (getrusage, the whole process: with workers > 1
// the replicas' threads too), and the overhead of "on" in percent of
// each; bench/README.md ("Profiling overhead") compares runs with
// benchstat.
func BenchmarkProfileOverhead(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchmarkProfile(b, workers) })
	}
}

func benchmarkProfile(b *testing.B, workers int) {
	w := New(Options{})
	cfg, err := ConfigFor(map[string]any{"train_samples": 4096, "test_samples": 1000, "workers": workers}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data, err := w.Data(cfg)
	if err != nil {
		b.Fatal(err)
	}
	type side struct {
		tr        *trainer
		mem       *trialMemory
		next      int
		wall, cpu time.Duration
		samples   int
	}
	var sides [2]*side // 0: profile on, 1: off
	for i := range sides {
		tr, err := newTrainer(cfg, data, 0)
		if err != nil {
			b.Fatal(err)
		}
		tr.clock.on = i == 0
		sides[i] = &side{tr: tr, mem: newTrialMemory()}
	}
	defer gemmTiming.Store(true)
	const block = 8
	steps := sides[0].tr.stepsPerEpoch()
	b.ResetTimer()
	for i := 0; i < b.N; i += block {
		on := (i/block)%2 == 0
		sd := sides[1]
		if on {
			sd = sides[0]
		}
		gemmTiming.Store(on)
		tr := sd.tr
		wall0, cpu0 := time.Now(), cpuTime()
		for range block {
			s := sd.next % steps
			if s == 0 {
				tr.clock.reset()
				tr.shuffle()
				tr.clock.lap(phData)
			}
			if _, err := tr.step(tr.perm[s*tr.batch : (s+1)*tr.batch]); err != nil {
				b.Fatal(err)
			}
			if s%16 == 0 {
				sd.mem.sample()
			}
			sd.next++
		}
		sd.wall += time.Since(wall0)
		sd.cpu += cpuTime() - cpu0
		sd.samples += block * tr.batch
	}
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	on, off := sides[0], sides[1]
	if on.samples == 0 || off.samples == 0 {
		return
	}
	b.ReportMetric(rate(on.samples, on.wall), "on-samples/s")
	b.ReportMetric(rate(off.samples, off.wall), "off-samples/s")
	b.ReportMetric(100*(1-rate(on.samples, on.wall)/rate(off.samples, off.wall)), "overhead-%")
	b.ReportMetric(100*(1-rate(on.samples, on.cpu)/rate(off.samples, off.cpu)), "cpu-overhead-%")
}
