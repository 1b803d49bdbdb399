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
		Short: "Tune an MNIST model for accuracy and speed on this machine, start to finish, in about two minutes",
		Long: `Show tune at work with nothing to set up: start the service on the embedded
store, start local runners, create a study that tunes the five knobs
(batch_size, learning_rate, activation, precision, workers) of the built-in
MNIST workload for two objectives at once, validation accuracy and training
speed (samples per second), watch it live, and put the Pareto front it found
(the configurations no other beats on both) beside the workload's default
one (trial 0, the baseline).

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
	maximize := openapi.Maximize
	tpe, median, startup, warmup := "tpe", "median", 5, 1
	seed := int64(o.seed)
	body := openapi.StudyCreate{
		Name: name,
		Objectives: &openapi.Objectives{
			{Metric: demoAccuracy, Direction: &maximize},
			{Metric: demoSpeed, Direction: &maximize},
		},
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

// The demo's two objectives.
const (
	demoAccuracy = "val_accuracy"
	demoSpeed    = "samples_per_second"
)

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
		front, err := paretoFront(ctx, c, ref)
		if err != nil {
			return err
		}
		onFront := map[int64]bool{}
		for _, t := range front {
			onFront[t.Id] = true
		}
		done, running := 0, 0
		speed := 0.0
		for i := range listing.trials {
			t := &listing.trials[i]
			switch t.State {
			case openapi.TrialStateComplete, openapi.TrialStatePruned, openapi.TrialStateFailed:
				done++
				if !seen[t.Id] {
					seen[t.Id] = true
					d.finished(t, onFront[t.Id])
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
		d.status(done, total, running, front, speed)
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

func (d *demoDisplay) finished(t *openapi.Trial, onFront bool) {
	d.clear()
	line := fmt.Sprintf("trial %2d %-8s", t.Number, t.State)
	if v, ok := t.Metrics[demoAccuracy]; ok && t.State == openapi.TrialStateComplete {
		line += fmt.Sprintf(" val_accuracy %.4f", v)
	} else if n := len(t.IntermediateValues); n > 0 {
		line += fmt.Sprintf(" val_accuracy %.4f at epoch %d", t.IntermediateValues[n-1].Value, t.IntermediateValues[n-1].Step+1)
	}
	if v, ok := t.Metrics["samples_per_second"]; ok {
		line += fmt.Sprintf(" · %s samples/s", formatThousands(v))
	}
	if onFront {
		line += " · on the front"
	}
	if t.State == openapi.TrialStateFailed && t.Error != "" {
		line += " · " + client.FirstLine(t.Error, 80)
	}
	fmt.Fprintf(d.w, "%s   %s\n", line, formatKnobs(t.Params))
}

func (d *demoDisplay) status(done, total, running int, front []openapi.Trial, speed float64) {
	const width = 24
	filled := width * done / max(total, 1)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	line := fmt.Sprintf("%s %d/%d trials · %d running", bar, done, total, running)
	if len(front) > 0 {
		// The front comes best accuracy first.
		line += fmt.Sprintf(" · front of %d, up to %.4f (trial %d)", len(front), front[0].Metrics[demoAccuracy], front[0].Number)
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

// paretoFront asks the service for the study's front: the complete trials
// no other beats on both accuracy and speed, most accurate first.
func paretoFront(ctx context.Context, c *apiClient, ref string) ([]openapi.Trial, error) {
	rsp, err := c.API.GetParetoFrontWithResponse(ctx, ref)
	front, _, err := decode[openapi.TrialList](c, studyCall("read the Pareto front of", ref), rsp, err)
	if err != nil {
		return nil, err
	}
	return front.Items, nil
}

// printDemoSummary puts the Pareto front the search found beside the
// baseline: the sampler's answer to "how fast can it train at the
// accuracy I need".
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
	front, err := paretoFront(ctx, c, ref)
	if err != nil {
		return err
	}
	if len(front) == 0 {
		fmt.Fprintf(w, "No trial completed; see 'tune trial list %s' for why.\n", study.Name)
		return nil
	}
	fmt.Fprintf(w, "The Pareto front: %d configurations that no other trial beats on both accuracy and speed,\nmost accurate first, beside the baseline. Pick the fastest that is accurate enough.\n\n", len(front))
	writeDemoFront(w, base, front)
	if base.State != openapi.TrialStateComplete {
		fmt.Fprintf(w, "(the baseline ended %s, so its numbers are those of its last report)\n", base.State)
	}
	for _, t := range front {
		if t.Id == base.Id {
			fmt.Fprintln(w, "The defaults are on the front: no configuration found beats them on both; try more --trials.")
		}
	}
	return nil
}

// writeDemoFront is the demo's closing table: the baseline, then each trial of
// the front with its results, how they compare with the baseline's, and
// its params.
func writeDemoFront(w io.Writer, base *openapi.Trial, front []openapi.Trial) {
	tw := newTable(w)
	head := append([]string{"", "trial", "val_accuracy", "samples/s", "seconds/epoch"}, demoKnobs...)
	fmt.Fprintf(tw, "%s\t\n", strings.Join(head, "\t"))
	metric := func(t *openapi.Trial, name string) (float64, bool) {
		if v, ok := t.Metrics[name]; ok {
			return v, true
		}
		// A baseline that did not complete shows its last report.
		if n := len(t.IntermediateValues); n > 0 && t.IntermediateValues[n-1].Metrics != nil {
			v, ok := (*t.IntermediateValues[n-1].Metrics)[name]
			return v, ok
		}
		return 0, false
	}
	cell := func(t *openapi.Trial, name string, format func(float64) string, compare func(b, x float64) string) string {
		v, ok := metric(t, name)
		if !ok {
			return "—"
		}
		out := format(v)
		if b, bok := metric(base, name); bok && t.Id != base.Id {
			if d := compare(b, v); d != "" {
				out += " (" + d + ")"
			}
		}
		return out
	}
	row := func(label string, t *openapi.Trial) {
		cells := []string{label, fmt.Sprint(t.Number),
			cell(t, demoAccuracy, func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) },
				func(b, x float64) string { return fmt.Sprintf("%+.2f points", 100*(x-b)) }),
			cell(t, demoSpeed, formatThousands, func(b, x float64) string { return ratio(x, b, "faster", "slower") }),
			cell(t, "seconds_per_epoch", func(v float64) string { return fmt.Sprintf("%.2f s", v) },
				func(b, x float64) string { return ratio(b, x, "less", "more") }),
		}
		for _, k := range demoKnobs {
			cells = append(cells, formatParamValue(t.Params[k]))
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	row("baseline", base)
	for i := range front {
		row("front", &front[i])
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
