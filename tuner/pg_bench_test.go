package tuner_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// pgKnobs is the five-knob space of the in-memory benchmarks.
func pgKnobs() trials.SearchSpace {
	return trials.SearchSpace{
		"learning_rate": {Type: trials.Float, Low: 1e-5, High: 1, Log: true},
		"batch_size":    {Type: trials.Int, Low: 16, High: 1024, Log: true},
		"activation":    {Type: trials.Categorical, Choices: []any{"relu", "tanh", "sigmoid", "leaky_relu"}},
		"precision":     {Type: trials.Categorical, Choices: []any{"float32", "float64"}},
		"workers":       {Type: trials.Int, Low: 1, High: 8},
	}
}

// pgLoss is a cheap objective over pgKnobs with its optimum at lr 1e-3,
// batch 128, relu, float32.
func pgLoss(p map[string]any) float64 {
	lr, _ := p["learning_rate"].(float64)
	bs, _ := p["batch_size"].(int64)
	v := math.Pow(math.Log10(lr)+3, 2) + 0.5*math.Pow(math.Log2(float64(bs))-7, 2)
	if p["activation"] != "relu" {
		v++
	}
	if p["precision"] != "float32" {
		v += 0.5
	}
	return v
}

// fillStudy writes n finished trials with random params into the study,
// from a few clients at once to keep the set-up short.
func fillStudy(b *testing.B, s *postgres.Store, st *trials.Study, n int) {
	b.Helper()
	ctx := context.Background()
	const clients = 8
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(c)))
			for i := c; i < n; i += clients {
				p := map[string]any{
					"learning_rate": math.Exp(math.Log(1e-5) * r.Float64()),
					"batch_size":    int64(16 << r.Intn(7)),
					"activation":    []string{"relu", "tanh", "sigmoid", "leaky_relu"}[r.Intn(4)],
					"precision":     []string{"float32", "float64"}[r.Intn(2)],
					"workers":       int64(1 + r.Intn(8)),
				}
				tr, err := s.CreateRunning(ctx, st.ID, p, nil, trials.OriginRandom, "fill", false)
				if err != nil {
					errs[c] = err
					return
				}
				v := pgLoss(p)
				if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAskTellPostgres runs the service's ask/tell cycle sequentially
// against the real store at a study size: Suggest (with the history
// refresh it makes), CreateRunning and Bind (the ask), then Tell and
// Observe (the runner's tell). It reports the median Suggest and the median
// ask; the tell is not timed.
func BenchmarkAskTellPostgres(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("trials=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s := pgtest.New(b)
			spec := trials.Study{
				Name:        "bench",
				Objective:   trials.Objective{Metric: "loss", Direction: trials.Minimize},
				SearchSpace: pgKnobs(),
				Sampler:     trials.Sampler{Type: trials.SamplerTPE, Seed: new(int64(1))},
			}.WithDefaults()
			st, err := s.CreateStudy(ctx, spec)
			if err != nil {
				b.Fatal(err)
			}
			fillStudy(b, s, st, n)
			tn := tuner.New(s)
			cycle := func() (suggest, ask time.Duration) {
				start := time.Now()
				prop, err := tn.Suggest(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				suggest = time.Since(start)
				tr, err := s.CreateRunning(ctx, st.ID, prop.Params, prop.SystemAttrs, prop.Origin, "bench", false)
				if err != nil {
					b.Fatal(err)
				}
				tn.Bind(prop.Handle, tr)
				ask = time.Since(start)
				b.StopTimer()
				v := pgLoss(tr.Params)
				done, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v})
				if err != nil {
					b.Fatal(err)
				}
				tn.Observe(done)
				b.StartTimer()
				return suggest, ask
			}
			cycle() // the first Suggest loads the whole study
			runtime.GC()
			var suggests, asks []time.Duration
			b.ResetTimer()
			for b.Loop() {
				sg, ask := cycle()
				suggests, asks = append(suggests, sg), append(asks, ask)
			}
			b.StopTimer()
			slices.Sort(suggests)
			slices.Sort(asks)
			b.ReportMetric(float64(suggests[len(suggests)/2].Microseconds())/1000, "suggest-p50-ms")
			b.ReportMetric(float64(asks[len(asks)/2].Microseconds())/1000, "ask-p50-ms")
		})
	}
}
