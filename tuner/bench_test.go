package tuner

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"

	"github.com/tune-dev/tune/trials"
)

var benchSizes = []int{100, 1000, 5000, 10000}

// randomKnobs draws one configuration of the five knobs uniformly.
func randomKnobs(r *rand.Rand) map[string]any {
	return map[string]any{
		"learning_rate": math.Exp(math.Log(1e-5) * r.Float64()),
		"batch_size":    int64(16 << r.Intn(7)),
		"activation":    []string{"relu", "tanh", "sigmoid", "leaky_relu"}[r.Intn(4)],
		"precision":     []string{"float32", "float64"}[r.Intn(2)],
		"workers":       int64(1 + r.Intn(8)),
	}
}

// BenchmarkSuggest measures the service's ask path at a study size: one
// Suggest of the five knobs, the trial then written, observed and
// completed (untimed), as the service and a runner would: the default
// sampler (auto: the GP up to gpAutoTrials, the multivariate TPE beyond),
// the GP throughout, and both TPEs.
func BenchmarkSuggest(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("trials=%d/sampler=auto", n), func(b *testing.B) {
			benchSuggest(b, n, trials.SamplerAuto, nil)
		})
		b.Run(fmt.Sprintf("trials=%d/sampler=gp", n), func(b *testing.B) {
			benchSuggest(b, n, trials.SamplerGP, nil)
		})
		for _, mv := range []bool{true, false} {
			b.Run(fmt.Sprintf("trials=%d/multivariate=%v", n, mv), func(b *testing.B) {
				benchSuggest(b, n, trials.SamplerTPE, &mv)
			})
		}
	}
}

func benchSuggest(b *testing.B, n int, typ string, mv *bool) {
	{
		{
			src := newMemSource()
			s := newStudy(1, typ, knobs())
			s.Sampler.Seed = ptr(int64(1))
			s.Sampler.Multivariate = mv
			r := rand.New(rand.NewSource(1))
			f := knobLoss(r)
			for range n {
				p := randomKnobs(r)
				tr := src.create(s.ID, p, trials.TrialRunning)
				src.complete(tr.ID, f(p))
			}
			tn := New(src)
			ask(b, tn, src, s) // the first Suggest loads the study
			runtime.GC()       // of the set-up's garbage, not the Suggests'
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				prop, err := tn.Suggest(context.Background(), s)
				params := prop.Params
				times = append(times, time.Since(start))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				tr := src.createWith(s.ID, params, prop.SystemAttrs, trials.TrialRunning)
				tn.Bind(prop.Handle, &tr)
				done := src.complete(tr.ID, f(params))
				tn.Observe(&done)
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		}
	}
}

// BenchmarkGoptunaTPE is the baseline: one trial of the five knobs with
// Goptuna's own Study, InMemoryStorage and tpe.Sampler.
func BenchmarkGoptunaTPE(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("trials=%d", n), func(b *testing.B) {
			study, err := goptuna.CreateStudy("bench", goptuna.StudyOptionLogger(nil))
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewSource(1))
			f := knobLoss(r)
			objective := func(t goptuna.Trial) (float64, error) {
				lr, _ := t.SuggestLogFloat("learning_rate", 1e-5, 1)
				bs, _ := t.SuggestInt("batch_size", 16, 1024)
				act, _ := t.SuggestCategorical("activation", []string{"relu", "tanh", "sigmoid", "leaky_relu"})
				prec, _ := t.SuggestCategorical("precision", []string{"float32", "float64"})
				w, _ := t.SuggestInt("workers", 1, 8)
				return f(map[string]any{"learning_rate": lr, "batch_size": int64(bs), "activation": act, "precision": prec, "workers": int64(w)}), nil
			}
			if err := study.Optimize(objective, n); err != nil {
				b.Fatal(err)
			}
			study.Sampler = tpe.NewSampler(tpe.SamplerOptionSeed(1))
			runtime.GC()
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := study.Optimize(objective, 1); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
