// Command asktell is tune's ask+tell load benchmark. It measures, over HTTP
// and through the generated client only, how many ask+tell pairs per second
// tune's service sustains with 1, 4 and 16 concurrent clients, and how long
// one ask takes with TPE as a study's history grows to 100, 1,000, 5,000 and 10,000
// finished trials. bench/optuna_asktell.py measures the same with Optuna;
// bench/run.sh runs both and prints them side by side.
//
// By default it starts the service in-process on a loopback listener over a
// Postgres database it creates for the run and drops at exit; --server
// points it at a running `tune serve` instead.
//
//	go run ./bench/asktell                # full run, a few minutes
//	go run ./bench/asktell --quick        # smoke run, seconds
//	go run ./bench/asktell --json out.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tune-dev/tune/bench/internal/harness"
)

// config is what the flags set.
type config struct {
	DatabaseURL  string        `json:"-"`
	Server       string        `json:"server,omitempty"`
	Duration     time.Duration `json:"-"`
	DurationS    float64       `json:"duration_s"`
	Count        int           `json:"count,omitempty"`
	Clients      []int         `json:"clients"`
	Sizes        []int         `json:"sizes"`
	Asks         int           `json:"asks"`
	FillWorkers  int           `json:"fill_workers"`
	Quick        bool          `json:"quick"`
	JSONPath     string        `json:"-"`
	Multivariate bool          `json:"multivariate"`
	Sampler      string        `json:"sampler"`
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "asktell:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asktell:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("asktell", flag.ContinueOnError)
	cfg := &config{}
	var clients, sizes string
	fs.StringVar(&cfg.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"Postgres server to create the benchmark's database on (the database in the URL is only used to create and drop it)")
	fs.StringVar(&cfg.Server, "server", "", "URL of a running `tune serve` (e.g. http://127.0.0.1:8080) instead of an in-process one")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each throughput level runs")
	fs.IntVar(&cfg.Count, "count", 0, "run each throughput level for this many ask+tell pairs instead of --duration")
	fs.StringVar(&clients, "clients", "1,4,16", "concurrent clients of each throughput level")
	fs.StringVar(&sizes, "sizes", "100,1000,5000,10000", "finished-trial counts at which to time asks")
	fs.IntVar(&cfg.Asks, "asks", 100, "timed ask+tell pairs at each size")
	fs.IntVar(&cfg.FillWorkers, "fill-workers", 8, "concurrent clients that pre-populate the latency study")
	fs.BoolVar(&cfg.Quick, "quick", false, "smoke run: 2 s levels, sizes 50 and 200, 20 asks each (explicit flags still win)")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&cfg.Sampler, "sampler", "", "the studies' sampler type (auto, tpe, gp, ...); empty: the service's default (auto)")
	fs.BoolVar(&cfg.Multivariate, "multivariate", true, "with --sampler tpe: the multivariate TPE or, with =false, the independent TPE, to time both side by side")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Quick {
		// Only shrink what the user did not set explicitly.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			cfg.Duration = 2 * time.Second
		}
		if !set["sizes"] {
			sizes = "50,200"
		}
		if !set["asks"] {
			cfg.Asks = 20
		}
	}
	var err error
	if cfg.Clients, err = parseInts(clients); err != nil {
		return nil, fmt.Errorf("--clients: %w", err)
	}
	if cfg.Sizes, err = parseInts(sizes); err != nil {
		return nil, fmt.Errorf("--sizes: %w", err)
	}
	for i := 1; i < len(cfg.Sizes); i++ {
		if cfg.Sizes[i] <= cfg.Sizes[i-1] {
			return nil, errors.New("--sizes must increase: one study grows through them")
		}
	}
	if cfg.Asks < 1 || cfg.FillWorkers < 1 {
		return nil, errors.New("--asks and --fill-workers must be at least 1")
	}
	cfg.DurationS = cfg.Duration.Seconds()
	return cfg, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// results is the JSON the benchmark writes; bench/optuna_asktell.py writes
// the same shape so that one formatter prints both.
type results struct {
	Impl       string        `json:"impl"`
	Version    string        `json:"version"`
	Date       string        `json:"date"`
	Machine    machine       `json:"machine"`
	Config     *config       `json:"config"`
	Throughput []throughput  `json:"throughput"`
	Latency    []latencyStep `json:"latency"`
}

type machine struct {
	NumCPU int    `json:"nproc"`
	CPU    string `json:"cpu"`
}

type throughput struct {
	Clients     int     `json:"clients"`
	Pairs       int     `json:"pairs"`
	Seconds     float64 `json:"seconds"`
	PairsPerSec float64 `json:"pairs_per_s"`
	AskP50      float64 `json:"ask_p50_ms"`
	AskP99      float64 `json:"ask_p99_ms"`
	TellP50     float64 `json:"tell_p50_ms"`
	Errors      int     `json:"errors"`
	// SuggestMean is the service's own mean time in its sampler per ask
	// (from /metrics; 0 when unavailable).
	SuggestMean float64 `json:"suggest_mean_ms,omitempty"`
}

type latencyStep struct {
	Trials      int     `json:"trials"`
	Asks        int     `json:"asks"`
	AskP50      float64 `json:"ask_p50_ms"`
	AskP99      float64 `json:"ask_p99_ms"`
	TellP50     float64 `json:"tell_p50_ms"`
	FillSeconds float64 `json:"fill_seconds"`
	SuggestMean float64 `json:"suggest_mean_ms,omitempty"`
}

func run(ctx context.Context, cfg *config) error {
	base := cfg.Server
	if base == "" {
		srv, err := startServer(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		// Deferred so that the database is dropped however the run ends,
		// including on an interrupt.
		defer srv.close()
		base = srv.url
	}
	b := newBench(base)
	b.multivariate = cfg.Multivariate
	b.sampler = cfg.Sampler
	res := &results{
		Impl:    "tune",
		Version: runtime.Version(),
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: machine{NumCPU: runtime.NumCPU(), CPU: harness.CPUModel()},
		Config:  cfg,
	}
	harness.Logf("tune ask+tell benchmark against %s", base)
	for _, n := range cfg.Clients {
		t, err := b.throughput(ctx, n, cfg.Duration, cfg.Count)
		if err != nil {
			return err
		}
		res.Throughput = append(res.Throughput, t)
	}
	steps, err := b.latency(ctx, cfg.Sizes, cfg.Asks, cfg.FillWorkers)
	if err != nil {
		return err
	}
	res.Latency = steps
	b.cleanup()

	printTable(os.Stdout, res)
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
