package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tune-dev/tune/bench/internal/harness"
	"github.com/tune-dev/tune/openapi"
)

// bench drives one tune service over HTTP through the generated client.
type bench struct {
	c       *openapi.ClientWithResponses
	hc      *http.Client
	base    string
	run     string   // makes study names unique per run, for --server
	studies []string // created, deleted at the end
	// sampler is the studies' sampler type ("" for the default);
	// multivariate picks a tpe study's TPE (the option of that name).
	sampler      string
	multivariate bool

	// errMu guards errShown: only the first few failures are printed in
	// full, the rest are counted.
	errMu    sync.Mutex
	errShown int

	metricsOnce sync.Once
}

func newBench(base string) *bench {
	// One pooled transport for every client goroutine: with the default
	// MaxIdleConnsPerHost of 2, 16 clients would keep opening and closing
	// TCP connections and the benchmark would measure that instead.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	c, err := openapi.NewClientWithResponses(base+"/api/v1", openapi.WithHTTPClient(hc))
	if err != nil {
		// Only a malformed base URL gets here, and flags are checked first.
		panic(err)
	}
	return &bench{c: c, hc: hc, base: base, run: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().Unix())}
}

// The five knobs, as in the README's quickstart.
func f64(v float64) *float64 { return &v }
func yes() *bool             { b := true; return &b }

func choices(cs ...string) *[]any {
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return &out
}

var searchSpace = openapi.SearchSpace{
	"learning_rate": {Type: "float", Low: f64(1e-5), High: f64(1), Log: yes()},
	"batch_size":    {Type: "int", Low: f64(16), High: f64(1024), Log: yes()},
	"activation":    {Type: "categorical", Choices: choices("relu", "tanh", "sigmoid", "leaky_relu")},
	"precision":     {Type: "categorical", Choices: choices("float32", "float64")},
	"workers":       {Type: "int", Low: f64(1), High: f64(8)},
}

func (b *bench) createStudy(ctx context.Context, kind string) (string, error) {
	name := fmt.Sprintf("bench-%s-%s", kind, b.run)
	min := openapi.Minimize
	sampler := &openapi.SamplerConfig{}
	if b.sampler != "" {
		sampler.Type = &b.sampler
	}
	if b.sampler == "tpe" {
		sampler.Multivariate = &b.multivariate
	}
	resp, err := b.c.CreateStudyWithResponse(ctx, openapi.StudyCreate{
		Name:        name,
		Objective:   &openapi.Objective{Metric: "loss", Direction: &min},
		SearchSpace: searchSpace,
		Sampler:     sampler,
	})
	if err != nil {
		return "", fmt.Errorf("creating study %s: %w", name, err)
	}
	if resp.JSON201 == nil {
		return "", fmt.Errorf("creating study %s: %s: %s", name, resp.Status(), resp.Body)
	}
	b.studies = append(b.studies, name)
	return name, nil
}

// cleanup deletes the studies this run created, which matters only with
// --server: the in-process database is dropped whole.
func (b *bench) cleanup() {
	for _, s := range b.studies {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := b.c.DeleteStudyWithResponse(ctx, s); err != nil {
			harness.Logf("deleting study %s: %v", s, err)
		}
		cancel()
	}
	b.studies = nil
}

// suggestTotals reads the service's tune_suggest_seconds histogram (the
// time its sampler spends proposing params, inside an ask) from /metrics.
// Two readings around a measurement split the client's ask latency into
// TPE and everything else (HTTP, JSON, validation, the database). /metrics
// is plain Prometheus text, outside the API, so the generated client does
// not cover it.
func (b *bench) suggestTotals(ctx context.Context) (sum, count float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "tune_suggest_seconds_sum":
			sum, err = strconv.ParseFloat(val, 64)
		case "tune_suggest_seconds_count":
			count, err = strconv.ParseFloat(val, 64)
		default:
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("GET /metrics: %s: %w", name, err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, errors.New("GET /metrics: no tune_suggest_seconds histogram")
	}
	return sum, count, nil
}

// suggestMean returns a function that, called after a measurement, gives
// the mean server-side suggest time in ms over it, or 0 when the service's
// metrics cannot be read (said once on stderr).
func (b *bench) suggestMean(ctx context.Context) func() float64 {
	sum0, n0, err := b.suggestTotals(ctx)
	if err != nil {
		b.metricsOnce.Do(func() { harness.Logf("not reporting server-side suggest time: %v", err) })
		return func() float64 { return 0 }
	}
	return func() float64 {
		sum1, n1, err := b.suggestTotals(ctx)
		if err != nil || n1 <= n0 {
			return 0
		}
		return (sum1 - sum0) / (n1 - n0) * 1000
	}
}

// objective is the synthetic loss the trials report: cheap, smooth, with a
// known optimum (lr 1e-3, batch 128, relu, float32, 4 workers) and a little
// noise, so TPE has something real to model. The Python benchmark uses the
// same formula.
func objective(p map[string]any, rng *rand.Rand) float64 {
	num := func(k string) float64 { v, _ := p[k].(float64); return v }
	v := math.Pow(math.Log10(num("learning_rate"))+3, 2) +
		math.Pow(math.Log2(num("batch_size"))-7, 2)/4 +
		math.Pow(num("workers")-4, 2)/16
	switch p["activation"] {
	case "tanh":
		v += 0.2
	case "sigmoid":
		v += 0.5
	case "leaky_relu":
		v += 0.05
	}
	if p["precision"] == "float64" {
		v += 0.1
	}
	return v + rng.NormFloat64()*0.01
}

// randomParams draws uniformly (log-uniformly where the space says log)
// from the search space, for pre-populating a study's history.
func randomParams(rng *rand.Rand) map[string]any {
	logU := func(lo, hi float64) float64 {
		return math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
	}
	bs := min(max(math.Round(logU(16, 1024)), 16), 1024)
	acts := []string{"relu", "tanh", "sigmoid", "leaky_relu"}
	return map[string]any{
		"learning_rate": logU(1e-5, 1),
		"batch_size":    int(bs),
		"activation":    acts[rng.IntN(len(acts))],
		"precision":     []string{"float32", "float64"}[rng.IntN(2)],
		"workers":       1 + rng.IntN(8),
	}
}

// pair runs one ask and its tell and returns how long each took.
func (b *bench) pair(ctx context.Context, study string, rng *rand.Rand) (ask, tell time.Duration, err error) {
	t0 := time.Now()
	ar, err := b.c.AskWithResponse(ctx, study, openapi.AskJSONRequestBody{})
	ask = time.Since(t0)
	if err != nil {
		return ask, 0, fmt.Errorf("ask: %w", err)
	}
	if ar.JSON201 == nil {
		return ask, 0, fmt.Errorf("ask: %s: %s", ar.Status(), ar.Body)
	}
	tr := ar.JSON201
	v := objective(tr.Params, rng)
	t1 := time.Now()
	tres, err := b.c.TellWithResponse(ctx, tr.Id, openapi.TellJSONRequestBody{
		State: openapi.TellRequestStateComplete,
		Value: &v,
		Lease: &tr.Lease,
	})
	tell = time.Since(t1)
	if err != nil {
		return ask, tell, fmt.Errorf("tell trial %d: %w", tr.Id, err)
	}
	if tres.JSON200 == nil {
		return ask, tell, fmt.Errorf("tell trial %d: %s: %s", tr.Id, tres.Status(), tres.Body)
	}
	return ask, tell, nil
}

// failed counts a failure and prints the first few exactly as they came,
// since an error under load is a finding in itself.
func (b *bench) failed(err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	b.errShown++
	if b.errShown <= 5 {
		harness.Logf("ERROR %v", err)
	} else if b.errShown == 6 {
		harness.Logf("(further errors are counted, not printed)")
	}
}

// maxErrors ends a level early: past it the service is broken, not slow.
const maxErrors = 200

// throughput runs n clients on one fresh study, each doing ask then tell as
// fast as it can, for d or until count pairs are done.
func (b *bench) throughput(ctx context.Context, n int, d time.Duration, count int) (throughput, error) {
	study, err := b.createStudy(ctx, fmt.Sprintf("c%d", n))
	if err != nil {
		return throughput{}, err
	}
	if count > 0 {
		harness.Logf("throughput: %d client(s), %d pairs, study %s", n, count, study)
	} else {
		harness.Logf("throughput: %d client(s) for %s, study %s", n, d, study)
	}
	// Each client first does one untimed pair on a study of its own, so
	// that connections are open before the clock starts; the Optuna
	// benchmark warms its worker processes the same way.
	warm, err := b.createStudy(ctx, fmt.Sprintf("c%d-warmup", n))
	if err != nil {
		return throughput{}, err
	}
	var (
		pairs, errs, claimed atomic.Int64
		wg                   sync.WaitGroup
		ready                sync.WaitGroup
		mu                   sync.Mutex
		asks, tells          []time.Duration
		start, deadline      time.Time
	)
	startGun := make(chan struct{})
	more := func() bool {
		if ctx.Err() != nil || errs.Load() >= maxErrors {
			return false
		}
		if count > 0 {
			return claimed.Add(1) <= int64(count)
		}
		return time.Now().Before(deadline)
	}
	ready.Add(n)
	for i := range n {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(i)))
			if _, _, err := b.pair(ctx, warm, rng); err != nil {
				errs.Add(1)
				b.failed(fmt.Errorf("warm-up: %w", err))
			}
			ready.Done()
			<-startGun
			var myAsks, myTells []time.Duration
			for more() {
				a, t, err := b.pair(ctx, study, rng)
				if ctx.Err() != nil {
					break // interrupted: not a failure of the service
				}
				if err != nil {
					errs.Add(1)
					b.failed(err)
					continue
				}
				myAsks, myTells = append(myAsks, a), append(myTells, t)
				pairs.Add(1)
			}
			mu.Lock()
			asks, tells = append(asks, myAsks...), append(tells, myTells...)
			mu.Unlock()
		})
	}
	ready.Wait()
	suggest := b.suggestMean(ctx)
	start = time.Now()
	deadline = start.Add(d)
	close(startGun) // publishes start and deadline to the clients
	stopProgress := progress(func() string {
		p := pairs.Load()
		return fmt.Sprintf("  %d clients: %d pairs, %.1f/s, %d errors", n, p, float64(p)/time.Since(start).Seconds(), errs.Load())
	})
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if err := ctx.Err(); err != nil {
		return throughput{}, err
	}
	t := throughput{
		Clients:     n,
		Pairs:       int(pairs.Load()),
		Seconds:     elapsed.Seconds(),
		PairsPerSec: float64(pairs.Load()) / elapsed.Seconds(),
		AskP50:      pct(asks, 0.50),
		AskP99:      pct(asks, 0.99),
		TellP50:     pct(tells, 0.50),
		Errors:      int(errs.Load()),
		SuggestMean: suggest(),
	}
	harness.Logf("  %d clients: %d pairs in %.1fs = %.1f pairs/s, ask p50 %.1f ms p99 %.1f ms (suggest mean %.1f ms), %d errors",
		n, t.Pairs, t.Seconds, t.PairsPerSec, t.AskP50, t.AskP99, t.SuggestMean, t.Errors)
	if t.Errors >= maxErrors {
		return t, fmt.Errorf("%d clients: stopped after %d errors", n, t.Errors)
	}
	return t, nil
}

// latency grows one study through sizes finished trials and, at each size,
// times asks ask+tell pairs by a single sequential client. The history is
// made of real finished trials: each is enqueued with random params (POST
// /studies/{s}/trials), handed out by an ask (which claims the waiting
// trial instead of running TPE, so filling is quick) and told complete with
// the objective's value. The timed pairs themselves add to the history, so
// at size N the asks see N to N+asks-1 finished trials.
func (b *bench) latency(ctx context.Context, sizes []int, asks, workers int) ([]latencyStep, error) {
	study, err := b.createStudy(ctx, "latency")
	if err != nil {
		return nil, err
	}
	harness.Logf("latency: one client, %d timed pairs at %v finished trials, study %s", asks, sizes, study)
	rng := rand.New(rand.NewPCG(42, 42))
	finished := 0
	var out []latencyStep
	for _, size := range sizes {
		st := latencyStep{Trials: size, Asks: asks}
		if size > finished {
			t0 := time.Now()
			if err := b.fill(ctx, study, size-finished, workers); err != nil {
				return nil, err
			}
			st.FillSeconds = time.Since(t0).Seconds()
			finished = size
		}
		// Check that the history is what the step claims: a wrong count
		// would make the latency column meaningless.
		sr, err := b.c.GetStudyWithResponse(ctx, study)
		if err != nil {
			return nil, err
		}
		if sr.JSON200 == nil {
			return nil, fmt.Errorf("get study: %s: %s", sr.Status(), sr.Body)
		}
		if got := sr.JSON200.Counts.Complete; got != finished {
			return nil, fmt.Errorf("study %s has %d complete trials, want %d", study, got, finished)
		}
		harness.Logf("  %d finished trials (filled in %.1fs); timing %d asks", finished, st.FillSeconds, asks)
		var askD, tellD []time.Duration
		suggest := b.suggestMean(ctx)
		for i := 0; i < asks; i++ {
			a, t, err := b.pair(ctx, study, rng)
			if err != nil {
				return nil, err
			}
			askD, tellD = append(askD, a), append(tellD, t)
			finished++
		}
		st.SuggestMean = suggest()
		st.AskP50, st.AskP99, st.TellP50 = pct(askD, 0.5), pct(askD, 0.99), pct(tellD, 0.5)
		harness.Logf("  at %d: ask p50 %.1f ms p99 %.1f ms (suggest mean %.1f ms), tell p50 %.1f ms",
			size, st.AskP50, st.AskP99, st.SuggestMean, st.TellP50)
		out = append(out, st)
	}
	return out, nil
}

// fill adds n finished trials with random params to study, with workers
// concurrent clients (see latency).
func (b *bench) fill(ctx context.Context, study string, n, workers int) error {
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	start := time.Now()
	stopProgress := progress(func() string {
		d := done.Load()
		return fmt.Sprintf("  filling: %d/%d, %.0f/s", d, n, float64(d)/time.Since(start).Seconds())
	})
	defer stopProgress()
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(7, uint64(w)))
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				er, err := b.c.EnqueueTrialWithResponse(ctx, study, openapi.EnqueueRequest{Params: randomParams(rng)})
				if err != nil {
					fail(fmt.Errorf("enqueue: %w", err))
					return
				}
				if er.JSON201 == nil {
					fail(fmt.Errorf("enqueue: %s: %s", er.Status(), er.Body))
					return
				}
				// The ask hands out a waiting trial, not necessarily this
				// worker's; every enqueue is followed by one ask, so they
				// all get finished.
				if _, _, err := b.pair(ctx, study, rng); err != nil {
					fail(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// progress calls line every few seconds and prints it to stderr until the
// returned function is called.
func progress(line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				harness.Logf("%s", line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// pct is the p-th quantile of ds in milliseconds (nearest rank), 0 when
// there are none.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}
