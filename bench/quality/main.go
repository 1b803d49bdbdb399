// Command quality measures how good the configurations tune's samplers find
// are, on tabular benchmarks of real training runs (data/, see its README):
// every configuration was trained in advance, so a trial is a table lookup.
//
// For each sampler, number of trials in flight W, table and seed it runs one
// study of N trials through tune's real service (started in process on the
// embedded store in a temporary directory, on a loopback listener), over
// HTTP with the generated client: W asks ahead, then each tell of the oldest
// trial is followed by the next ask. The objective of a trial is one of its
// configuration's seed results, picked at random. The regret of a study is
// the mean over seeds of its best trial's configuration against the table's
// best mean; the summary figure is the mean over tables and seeds of regret ÷
// the median regret of all configurations in the table, so that tables of
// different scales weigh the same. bench/quality/optuna_quality.py measures
// the same with Optuna, and bench/quality/run.sh prints both side by side.
//
// --mode mo makes each table a two-objective study (its metric and the
// network's parameter count, see mo.go) and --mode constrained adds a bound
// on the parameter count; a study is then scored by the hypervolume of its
// feasible trials, written one JSON line per study (--jsonl) in the shape
// optuna_mo.py writes, for compare_mo.py; bench/quality/run_mo.sh runs both.
//
//	go run ./bench/quality                           # default sampler, W=1 and 8
//	go run ./bench/quality --seeds 3 --tables car,kc1
//	go run ./bench/quality --sampler 'old={"type":"tpe","multivariate":false}' --sampler 'new={}'
//	go run ./bench/quality --mode mo,constrained --seeds 10 --jsonl tune.jsonl
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tune-dev/tune/bench/internal/harness"
	"github.com/tune-dev/tune/openapi"
)

// variant is a named sampler configuration of the study.
type variant struct {
	Name   string                `json:"name"`
	Config openapi.SamplerConfig `json:"config"`
}

type variants []*variant

func (v *variants) String() string { return "" }

func (v *variants) Set(s string) error {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" || strings.ContainsAny(name, " /") {
		return errors.New(`want NAME=JSON, e.g. tpe={"type":"tpe"}`)
	}
	x := &variant{Name: name}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x.Config); err != nil {
		return fmt.Errorf("sampler %s: %w", name, err)
	}
	*v = append(*v, x)
	return nil
}

type config struct {
	Data     string     `json:"data"`
	Tables   []string   `json:"tables"`
	Trials   int        `json:"trials"`
	Seeds    int        `json:"seeds"`
	Inflight []int      `json:"inflight"`
	Parallel int        `json:"parallel"`
	Samplers []*variant `json:"samplers"`
	Modes    []mode     `json:"modes"`
	JSONPath string     `json:"-"`
	// JSONLPath gets the multi-objective modes' studies, one per line.
	JSONLPath string `json:"-"`
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("quality", flag.ContinueOnError)
	cfg := &config{}
	var tables, inflight, modes string
	var vs variants
	fs.StringVar(&cfg.Data, "data", "bench/quality/data", "directory of the benchmark tables (<family>/<table>.csv.gz)")
	fs.StringVar(&tables, "tables", "", "comma-separated tables to run (default: all)")
	fs.IntVar(&cfg.Trials, "trials", 100, "trials per study")
	fs.IntVar(&cfg.Seeds, "seeds", 12, "seeds (studies) per table, sampler and W")
	fs.StringVar(&inflight, "inflight", "1,8", "trials in flight (W), comma-separated")
	fs.IntVar(&cfg.Parallel, "parallel", 2*runtime.GOMAXPROCS(0), "studies run at once against the one server")
	fs.Var(&vs, "sampler", `NAME=JSON sampler config of the study, repeatable (default: tune={}, the study's default sampler)`)
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the results as JSON to this file (mode single)")
	fs.StringVar(&modes, "mode", "single", "single, or the multi-objective modes mo and constrained, comma-separated")
	fs.StringVar(&cfg.JSONLPath, "jsonl", "", "write the multi-objective studies to this file, one JSON line each")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(vs) == 0 {
		vs = variants{{Name: "tune"}}
	}
	cfg.Samplers = vs
	for _, s := range strings.Split(tables, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Tables = append(cfg.Tables, s)
		}
	}
	for _, s := range strings.Split(inflight, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--inflight: %q is not a positive integer", s)
		}
		cfg.Inflight = append(cfg.Inflight, n)
	}
	for _, s := range strings.Split(modes, ",") {
		switch m := mode(strings.TrimSpace(s)); m {
		case single, multi, constrained:
			if slices.Contains(cfg.Modes, m) {
				return nil, fmt.Errorf("--mode: %s twice", m)
			}
			cfg.Modes = append(cfg.Modes, m)
		default:
			return nil, fmt.Errorf("--mode: %q is not single, mo or constrained", s)
		}
	}
	if slices.Contains(cfg.Modes, single) && len(cfg.Modes) > 1 {
		return nil, errors.New("--mode: single is scored apart from mo and constrained; run it on its own")
	}
	if cfg.JSONLPath != "" && cfg.Modes[0] == single {
		return nil, errors.New("--jsonl is for --mode mo or constrained; single writes --json")
	}
	if cfg.JSONPath != "" && cfg.Modes[0] != single {
		return nil, errors.New("--json is for --mode single; mo and constrained write --jsonl")
	}
	if cfg.Trials < 1 || cfg.Seeds < 1 || cfg.Parallel < 1 {
		return nil, errors.New("--trials, --seeds and --parallel must be at least 1")
	}
	return cfg, nil
}

// results is the JSON both this program and optuna_quality.py write.
type results struct {
	Impl    string      `json:"impl"`
	Date    string      `json:"date"`
	Machine machine     `json:"machine"`
	Config  *config     `json:"config"`
	Runs    []runResult `json:"runs"`
	Seconds float64     `json:"seconds"`
}

type machine struct {
	NumCPU int    `json:"nproc"`
	CPU    string `json:"cpu"`
	Go     string `json:"go"`
}

// runResult is one sampler at one W over every table.
type runResult struct {
	Sampler  string        `json:"sampler"`
	Inflight int           `json:"inflight"`
	Summary  float64       `json:"summary"`
	Tables   []tableResult `json:"tables"`
}

type tableResult struct {
	Table        string    `json:"table"`
	MedianRegret float64   `json:"median_regret"`
	MeanNorm     float64   `json:"mean_norm"`
	Regrets      []float64 `json:"regrets"`
	Norms        []float64 `json:"norms"`
	Distinct     []int     `json:"distinct"`
}

func run(ctx context.Context, cfg *config, stdout io.Writer) error {
	tables, err := loadTables(cfg.Data, cfg.Tables)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx)
	if err != nil {
		return err
	}
	defer srv.close()
	b := newBench(srv.url)
	mos := map[*table]*moTable{}
	if cfg.Modes[0] != single {
		for _, t := range tables {
			if mos[t], err = newMOTable(t); err != nil {
				return err
			}
		}
	}

	var jobs []job
	for _, m := range cfg.Modes {
		for _, v := range cfg.Samplers {
			for _, w := range cfg.Inflight {
				for _, t := range tables {
					for s := range cfg.Seeds {
						jobs = append(jobs, job{mode: m, variant: v, inflight: w, table: t, mo: mos[t], seed: s})
					}
				}
			}
		}
	}
	harness.Logf("%d studies of %d trials (modes %v × %d samplers × W %v × %d tables × %d seeds), %d at once, against %s",
		len(jobs), cfg.Trials, cfg.Modes, len(cfg.Samplers), cfg.Inflight, len(tables), cfg.Seeds, cfg.Parallel, srv.url)

	start := time.Now()
	outs := make([]outcome, len(jobs))
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errMu      sync.Mutex
		firstErr   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range cfg.Parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				o, err := b.runStudy(ctx, jobs[i], cfg.Trials)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					cancel()
					return
				}
				outs[i] = o
				done.Add(1)
			}
		})
	}
	stopProgress := progress(func() string {
		d := done.Load()
		el := time.Since(start)
		eta := "?"
		if d > 0 {
			eta = (time.Duration(float64(el) / float64(d) * float64(int64(len(jobs))-d))).Round(time.Second).String()
		}
		return fmt.Sprintf("%d/%d studies, %s elapsed, ~%s left", d, len(jobs), el.Round(time.Second), eta)
	})
	wg.Wait()
	stopProgress()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if cfg.Modes[0] != single {
		harness.Logf("done in %s", time.Since(start).Round(time.Second))
		return writeMO(stdout, cfg, jobs, outs)
	}
	res := &results{
		Impl:    "tune",
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machine{NumCPU: runtime.NumCPU(), CPU: harness.CPUModel(), Go: runtime.Version()},
		Config:  cfg,
		Seconds: time.Since(start).Seconds(),
	}
	for _, v := range cfg.Samplers {
		for _, w := range cfg.Inflight {
			rr := runResult{Sampler: v.Name, Inflight: w}
			sum, n := 0.0, 0
			for _, t := range tables {
				tr := tableResult{Table: t.name}
				for i, j := range jobs {
					if j.variant == v && j.inflight == w && j.table == t {
						tr.Regrets = append(tr.Regrets, outs[i].Regret)
						tr.Norms = append(tr.Norms, outs[i].Norm)
						tr.Distinct = append(tr.Distinct, outs[i].Distinct)
						tr.MeanNorm += outs[i].Norm
						sum += outs[i].Norm
						n++
					}
				}
				tr.MeanNorm /= float64(len(tr.Norms))
				sorted := slices.Clone(tr.Regrets)
				slices.Sort(sorted)
				tr.MedianRegret = median(sorted)
				rr.Tables = append(rr.Tables, tr)
			}
			rr.Summary = sum / float64(n)
			res.Runs = append(res.Runs, rr)
		}
	}
	harness.Logf("done in %s", time.Since(start).Round(time.Second))
	printTable(stdout, res)
	if cfg.JSONPath != "" {
		raw, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.JSONPath, append(raw, '\n'), 0o644); err != nil {
			return err
		}
		harness.Logf("wrote %s", cfg.JSONPath)
	}
	return nil
}

// printTable prints one row per sampler and W: the summary figure, then
// each table's median regret.
func printTable(w io.Writer, res *results) {
	if len(res.Runs) == 0 {
		return
	}
	fmt.Fprintf(w, "%s, %d trials, %d seeds; summary = mean over tables and seeds of regret / table's median regret (lower is better)\n",
		res.Impl, res.Config.Trials, res.Config.Seeds)
	fmt.Fprintf(w, "%-28s %3s %8s", "sampler", "W", "summary")
	for _, t := range res.Runs[0].Tables {
		fmt.Fprintf(w, " %12s", abbrev(t.Table, 12))
	}
	fmt.Fprintln(w)
	for _, r := range res.Runs {
		fmt.Fprintf(w, "%-28s %3d %8.4f", r.Sampler, r.Inflight, r.Summary)
		for _, t := range r.Tables {
			fmt.Fprintf(w, " %12.4g", t.MedianRegret)
		}
		fmt.Fprintln(w)
	}
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// bench drives one tune service over HTTP through the generated client.
type bench struct {
	c   *openapi.ClientWithResponses
	run string // makes study names unique per run
}

func newBench(base string) *bench {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	c, err := openapi.NewClientWithResponses(base+"/api/v1", openapi.WithHTTPClient(hc))
	if err != nil {
		panic(err) // only a malformed base URL gets here, and it is ours
	}
	return &bench{c: c, run: strconv.FormatInt(time.Now().Unix()%100000, 36)}
}

// progress prints status() to stderr every few seconds until stopped.
func progress(status func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				harness.Logf("%s", status())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
