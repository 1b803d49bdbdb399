package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/mnist"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

type demoOptions struct {
	serviceOptions
	trials       int
	runners      int
	seed         int
	epochs       int
	trainSamples int
	testSamples  int
	hiddenUnits  int
	mnistDir     string
	serve        bool
}

// demoRunners is how many trials the demo trains at once: one per two
// cores, so that each trial's workers have a core of their own and the
// speeds it measures are not those of a contended machine.
func demoRunners() int { return max(1, min(4, runtime.NumCPU()/2)) }

func newDemoCommand() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Tune an MNIST model on this machine, start to finish, in about two minutes",
		Long: `Show tune at work with nothing to set up: start the service on the embedded
store, start local runners, create a study that tunes the five knobs
(batch_size, learning_rate, activation, precision, workers) of the built-in
MNIST workload, watch it live, and compare the best configuration found with
the workload's default one (trial 0, the baseline).

The study stays in the data directory: 'tune serve' shows it afterwards,
and so do the CLI and the API.`,
		Example: `  tune demo
  tune demo --trials 40 --serve          # a longer search, and keep serving afterwards`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The default address, or TUNE_ADDR's, may be taken by a
			// service already running: then any free port will do.
			o.anyPort = !onCommandLine(cmd, "addr")
			o.migrate = true
			return runDemo(cmd, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.trials, "trials", 30, "trials to run, the baseline included")
	f.IntVar(&o.runners, "runners", demoRunners(), "trials trained at once")
	f.IntVar(&o.seed, "seed", 42, "the sampler's seed")
	f.IntVar(&o.epochs, "epochs", 3, "epochs per trial")
	f.IntVar(&o.trainSamples, "train-samples", 40000, "MNIST training images per trial (of 60,000)")
	f.IntVar(&o.testSamples, "test-samples", 10000, "MNIST test images per trial (of 10,000)")
	f.IntVar(&o.hiddenUnits, "hidden-units", 128, "hidden units of the MLP")
	bind(f, "addr", &o.addr, "where the service listens; another free port when this one is taken and the flag is not given")
	bind(f, "data-dir", &o.dataDir, "directory of the embedded store")
	bind(f, "database-url", &o.databaseURL, "use this Postgres database instead of the embedded store")
	bind(f, "mnist-dir", &o.mnistDir)
	f.BoolVar(&o.serve, "serve", false, "keep serving the API after the study ends, until Ctrl-C")
	return cmd
}

func (o demoOptions) check() error {
	switch {
	case o.trials < 2:
		return fmt.Errorf("--trials must be at least 2 (the baseline and one search), got %d", o.trials)
	case o.runners < 1:
		return fmt.Errorf("--runners must be at least 1, got %d", o.runners)
	case o.epochs < 1:
		return fmt.Errorf("--epochs must be at least 1, got %d", o.epochs)
	case o.trainSamples < 100 || o.trainSamples > 60000:
		return fmt.Errorf("--train-samples must be between 100 and 60000, got %d", o.trainSamples)
	case o.testSamples < 100 || o.testSamples > 10000:
		return fmt.Errorf("--test-samples must be between 100 and 10000, got %d", o.testSamples)
	case o.hiddenUnits < 1:
		return fmt.Errorf("--hidden-units must be at least 1, got %d", o.hiddenUnits)
	}
	return nil
}

func runDemo(cmd *cobra.Command, o demoOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	ctx := cmd.Context()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	// The live display owns the terminal; the service and the runners
	// only speak up when something is wrong.
	quiet := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))

	svc, err := startService(ctx, o.serviceOptions, quiet)
	if err != nil {
		return err
	}
	defer svc.close()
	defer svc.shutdown() //nolint:errcheck // on the way out; close follows
	url, where := svc.url, svc.where

	token, err := localToken(cmd, o.dataDir)
	if err != nil {
		return err
	}
	c, err := newAPIClient(url, token, outputTable)
	if err != nil {
		return err
	}
	study, err := createDemoStudy(ctx, c, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tune demo: study %s, %d trials of mnist-mlp (%d epochs on %d MNIST images, tested on %d), %d at a time\n",
		study.Name, o.trials, o.epochs, o.trainSamples, o.testSamples, o.runners)
	fmt.Fprintf(out, "  API %s%s · data %s\n", url, apiPrefix, where)
	fmt.Fprintf(out, "  trial 0 is the baseline, the workload's defaults: %s\n\n", formatKnobs(baselineParams()))

	runCtx, stopRunners := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runnerErrs := make(chan error, o.runners)
	for i := range o.runners {
		r, err := runner.New(runner.Config{
			Server:    url,
			Token:     token,
			ID:        fmt.Sprintf("demo-%d", i+1),
			Workloads: []workload.Workload{mnist.New(mnist.Options{DataDir: o.mnistDir})},
			Logger:    quiet,
		})
		if err != nil {
			stopRunners()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				runnerErrs <- err
			}
		}()
	}
	started := time.Now()
	watchErr := watchDemo(runCtx, c, study, o.trials, newDemoDisplay(errOut), runnerErrs)
	stopRunners()
	wg.Wait()
	if watchErr != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(errOut, "\ninterrupted: study %s is kept in %s with the trials it finished\n", study.Name, where)
		}
		return watchErr
	}

	if err := printDemoSummary(ctx, c, out, study, time.Since(started)); err != nil {
		return err
	}
	if o.serve {
		fmt.Fprintf(out, "\nThe dashboard is at %s/studies/%s and the API at %s%s; data in %s.\nServing until Ctrl-C.\n",
			url, study.Name, url, apiPrefix, where)
		<-ctx.Done()
		return nil
	}
	fmt.Fprintf(out, "\nThe study is kept in %s. To see it again, start the service\n", where)
	if o.databaseURL == "" {
		fmt.Fprintf(out, "  tune serve --data-dir %s\n", o.dataDir)
	} else {
		fmt.Fprintf(out, "  tune serve --database-url %s\n", where)
	}
	fmt.Fprintf(out, "and open the dashboard at http://%s/studies/%s (the API is under %s), or ask the CLI:\n",
		defaultServeAddr, study.Name, apiPrefix)
	fmt.Fprintf(out, "  tune study show %s · tune trial list %s · tune study best %s\n", study.Name, study.Name, study.Name)
	return nil
}

// baselineParams is the untuned configuration the search is measured
// against: the mnist-mlp workload's own defaults.
func baselineParams() map[string]any {
	d := mnist.DefaultConfig()
	return map[string]any{
		"batch_size":    d.BatchSize,
		"learning_rate": d.LearningRate,
		"activation":    d.Activation,
		"precision":     d.Precision,
		"workers":       d.Workers,
	}
}

// demoKnobs is the order the five knobs are shown in.
var demoKnobs = []string{"batch_size", "learning_rate", "activation", "precision", "workers"}

func formatKnobs(p map[string]any) string {
	parts := make([]string, 0, len(demoKnobs))
	for _, k := range demoKnobs {
		parts = append(parts, k+"="+formatParamValue(p[k]))
	}
	return strings.Join(parts, " ")
}

// createDemoStudy creates the study under the first free name of
// mnist-demo, mnist-demo-2, ... so that every demo run is kept, and
// enqueues the baseline as its trial 0.
func createDemoStudy(ctx context.Context, c *apiClient, o demoOptions) (*openapi.Study, error) {
	studies, err := listAllStudies(ctx, c)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	for _, s := range studies {
		taken[s.Name] = true
	}
	name := "mnist-demo"
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("mnist-demo-%d", i)
	}
	maxWorkers := max(1, min(4, runtime.NumCPU()/o.runners))
	ptrF := func(v float64) *float64 { return &v }
	yes := true
	space := openapi.SearchSpace{
		"batch_size":    {Type: "int", Low: ptrF(16), High: ptrF(1024), Log: &yes},
		"learning_rate": {Type: "float", Low: ptrF(1e-4), High: ptrF(0.1), Log: &yes},
		"activation":    {Type: "categorical", Choices: &[]any{"relu", "tanh", "sigmoid", "leaky_relu"}},
		"precision":     {Type: "categorical", Choices: &[]any{"float32", "float64"}},
	}
	if maxWorkers > 1 {
		space["workers"] = openapi.Distribution{Type: "int", Low: ptrF(1), High: ptrF(float64(maxWorkers))}
	} else {
		space["workers"] = openapi.Distribution{Type: "categorical", Choices: &[]any{1}}
	}
	options := map[string]any{
		"epochs":        o.epochs,
		"train_samples": o.trainSamples,
		"test_samples":  o.testSamples,
		"hidden_units":  o.hiddenUnits,
		"seed":          o.seed,
	}
	direction := openapi.Maximize
	tpe, median, startup, warmup := "tpe", "median", 5, 1
	seed := int64(o.seed)
	body := openapi.StudyCreate{
		Name:        name,
		Objective:   &openapi.Objective{Metric: "val_accuracy", Direction: &direction},
		SearchSpace: space,
		Sampler:     &openapi.SamplerConfig{Type: &tpe, Seed: &seed},
		Pruner:      &openapi.PrunerConfig{Type: &median, StartupTrials: &startup, WarmupSteps: &warmup},
		Workload:    &openapi.Workload{Type: trials.WorkloadMNISTMLP, Options: &options},
		MaxTrials:   &o.trials,
		MaxParallel: &o.runners,
	}
	crsp, err := c.API.CreateStudyWithResponse(ctx, body)
	study, _, err := decode[openapi.Study](c, call{Name: "create the demo study"}, crsp, err)
	if err != nil {
		return nil, err
	}
	ersp, err := c.API.EnqueueTrialWithResponse(ctx, name, openapi.EnqueueRequest{Params: baselineParams()})
	if _, _, err := decode[openapi.Trial](c, studyCall("enqueue the baseline of", name), ersp, err); err != nil {
		return nil, err
	}
	return study, nil
}

// watchDemo polls the study until all its trials have finished, feeding
// the display.
func watchDemo(ctx context.Context, c *apiClient, study *openapi.Study, total int, d *demoDisplay, runnerErrs <-chan error) error {
	ref := fmt.Sprint(study.Id)
	seen := map[int64]bool{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	limit := 1000
	for {
		listing, err := c.listTrials(ctx, ref, openapi.ListTrialsParams{Limit: &limit}, true)
		if err != nil {
			return err
		}
		var best *openapi.Trial
		done, running := 0, 0
		speed := 0.0
		for i := range listing.trials {
			t := &listing.trials[i]
			switch t.State {
			case openapi.TrialStateComplete:
				if best == nil || *t.Value > *best.Value {
					best = t
				}
				fallthrough
			case openapi.TrialStatePruned, openapi.TrialStateFailed:
				done++
				if !seen[t.Id] {
					seen[t.Id] = true
					d.finished(t, best)
				}
			case openapi.TrialStateRunning:
				running++
				if n := len(t.IntermediateValues); n > 0 {
					if m := t.IntermediateValues[n-1].Metrics; m != nil {
						speed += (*m)["samples_per_second"]
					}
				}
			}
		}
		d.status(done, total, running, best, speed)
		if done >= total {
			d.clear()
			return nil
		}
		select {
		case <-ctx.Done():
			d.clear()
			return ctx.Err()
		case err := <-runnerErrs:
			d.clear()
			return fmt.Errorf("a demo runner stopped: %w", err)
		case <-tick.C:
		}
	}
}

// demoDisplay shows one line per finished trial and, on a terminal, a
// status line redrawn in place under them.
type demoDisplay struct {
	w       io.Writer
	tty     bool
	start   time.Time
	drawn   bool
	lastLog time.Time
}

func newDemoDisplay(w io.Writer) *demoDisplay {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return &demoDisplay{w: w, tty: tty, start: time.Now()}
}

func (d *demoDisplay) clear() {
	if d.tty && d.drawn {
		fmt.Fprint(d.w, "\r\033[K")
		d.drawn = false
	}
}

func (d *demoDisplay) finished(t *openapi.Trial, best *openapi.Trial) {
	d.clear()
	line := fmt.Sprintf("trial %2d %-8s", t.Number, t.State)
	if t.Value != nil {
		line += fmt.Sprintf(" val_accuracy %.4f", *t.Value)
	} else if n := len(t.IntermediateValues); n > 0 {
		line += fmt.Sprintf(" val_accuracy %.4f at epoch %d", t.IntermediateValues[n-1].Value, t.IntermediateValues[n-1].Step+1)
	}
	if v, ok := t.Metrics["samples_per_second"]; ok {
		line += fmt.Sprintf(" · %s samples/s", formatThousands(v))
	}
	if best != nil && best.Id == t.Id {
		line += " · best so far"
	}
	if t.State == openapi.TrialStateFailed && t.Error != "" {
		line += " · " + client.FirstLine(t.Error, 80)
	}
	fmt.Fprintf(d.w, "%s   %s\n", line, formatKnobs(t.Params))
}

func (d *demoDisplay) status(done, total, running int, best *openapi.Trial, speed float64) {
	const width = 24
	filled := width * done / max(total, 1)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	line := fmt.Sprintf("%s %d/%d trials · %d running", bar, done, total, running)
	if best != nil {
		line += fmt.Sprintf(" · best %.4f (trial %d)", *best.Value, best.Number)
	}
	if speed > 0 {
		line += fmt.Sprintf(" · %s samples/s", formatThousands(speed))
	}
	line += " · " + time.Since(d.start).Round(time.Second).String()
	if d.tty {
		fmt.Fprintf(d.w, "\r\033[K%s", line)
		d.drawn = true
		return
	}
	// Not a terminal (a log, CI): a status line every ten seconds is
	// enough to show it is alive, and one at the end.
	if time.Since(d.lastLog) >= 10*time.Second || done >= total {
		d.lastLog = time.Now()
		fmt.Fprintln(d.w, line)
	}
}

// nearBest is how far below the best accuracy (in accuracy, 0.005 = half a
// point) a trial may be and still count as "as good" for the fastest
// column: the trade-off an engineer would take.
const nearBest = 0.005

// printDemoSummary puts the best trial, and the fastest trial about as
// accurate as it, beside the baseline.
func printDemoSummary(ctx context.Context, c *apiClient, w io.Writer, study *openapi.Study, took time.Duration) error {
	ref := fmt.Sprint(study.Id)
	limit := 1000
	listing, err := c.listTrials(ctx, ref, openapi.ListTrialsParams{Limit: &limit}, true)
	if err != nil {
		return err
	}
	if len(listing.trials) == 0 {
		return fmt.Errorf("study %s has no baseline trial", study.Name)
	}
	base := &listing.trials[0]
	srsp, err := c.API.GetStudyWithResponse(ctx, ref)
	sum, _, err := decode[openapi.Study](c, studyCall("show", study.Name), srsp, err)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d trials in %s: %d complete, %d pruned early, %d failed\n\n", sum.Counts.Complete+sum.Counts.Pruned+sum.Counts.Failed,
		took.Round(time.Second), sum.Counts.Complete, sum.Counts.Pruned, sum.Counts.Failed)
	best, fastest := bestAndFastest(listing.trials)
	if best == nil {
		fmt.Fprintf(w, "No trial completed; see 'tune trial list %s' for why.\n", study.Name)
		return nil
	}
	cols := []demoColumn{{fmt.Sprintf("baseline (trial %d)", base.Number), base}, {fmt.Sprintf("best (trial %d)", best.Number), best}}
	if fastest != nil && fastest.Id != best.Id {
		cols = append(cols, demoColumn{fmt.Sprintf("fastest within %.1f points (trial %d)", 100*nearBest, fastest.Number), fastest})
	}
	writeComparison(w, cols)
	if base.State != openapi.TrialStateComplete {
		fmt.Fprintf(w, "(the baseline ended %s, so its numbers are those of its last report)\n", base.State)
	}
	if base.Id == best.Id {
		fmt.Fprintln(w, "The defaults were the most accurate configuration this search found; try more --trials.")
	}
	return nil
}

// bestAndFastest returns the most accurate complete trial (the earliest of
// equals, as the API's best) and the fastest complete trial within
// nearBest of it.
func bestAndFastest(ts []openapi.Trial) (best, fastest *openapi.Trial) {
	for i := range ts {
		t := &ts[i]
		if t.State == openapi.TrialStateComplete && t.Value != nil && (best == nil || *t.Value > *best.Value) {
			best = t
		}
	}
	if best == nil {
		return nil, nil
	}
	for i := range ts {
		t := &ts[i]
		if t.State != openapi.TrialStateComplete || t.Value == nil || *t.Value < *best.Value-nearBest {
			continue
		}
		if fastest == nil || t.Metrics["samples_per_second"] > fastest.Metrics["samples_per_second"] {
			fastest = t
		}
	}
	return best, fastest
}

// demoColumn is one trial of the closing table.
type demoColumn struct {
	title string
	trial *openapi.Trial
}

// writeComparison is the demo's closing table: each trial's params and
// results, and how the later columns differ from the first (the baseline).
func writeComparison(w io.Writer, cols []demoColumn) {
	tw := newTable(w)
	line := func(label string, cells []string) {
		fmt.Fprintf(tw, "%s\t%s\t\n", label, strings.Join(cells, "\t"))
	}
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	line("", titles)
	for _, k := range demoKnobs {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = formatParamValue(c.trial.Params[k])
		}
		line(k, cells)
	}
	pct := func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
	secs := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	rows := []struct {
		label, metric string
		format        func(float64) string
		compare       func(b, x float64) string
	}{
		{"val_accuracy", "val_accuracy", pct, func(b, x float64) string {
			return fmt.Sprintf("%+.2f points", 100*(x-b))
		}},
		{"samples/s", "samples_per_second", formatThousands, func(b, x float64) string {
			return ratio(x, b, "faster", "slower")
		}},
		{"seconds/epoch", "seconds_per_epoch", secs, func(b, x float64) string {
			return ratio(b, x, "less time", "more time")
		}},
	}
	base := cols[0].trial
	for _, r := range rows {
		cells := make([]string, len(cols))
		bv, bok := base.Metrics[r.metric]
		for i, c := range cols {
			v, ok := c.trial.Metrics[r.metric]
			switch {
			case !ok:
				cells[i] = "—"
			case i == 0 || !bok || c.trial.Id == base.Id:
				cells[i] = r.format(v)
			default:
				cells[i] = r.format(v)
				if d := r.compare(bv, v); d != "" {
					cells[i] += " (" + d + ")"
				}
			}
		}
		line(r.label, cells)
	}
	tw.Flush()
}

// ratio says how many times better x is than b.
func ratio(x, b float64, better, worse string) string {
	switch {
	case x <= 0 || b <= 0:
		return ""
	case x >= b:
		return fmt.Sprintf("%.1f× %s", x/b, better)
	default:
		return fmt.Sprintf("%.1f× %s", b/x, worse)
	}
}

// formatThousands writes a rate as a whole number with thousands
// separators: 61,300.
func formatThousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
