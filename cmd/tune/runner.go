package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/command"
	"github.com/tune-dev/tune/runner/mnist"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

type runnerOptions struct {
	id        string
	workloads []string
	device    string
	parallel  int
	mnistDir  string
	logFormat string
	logLevel  string
	idleExit  bool
	leaseWait int
}

type runnerWorkload struct {
	typ string
	new func(o runnerOptions, log *slog.Logger) workload.Workload
}

// runnerWorkloads are the workloads `tune runner` offers, by type, in the
// order they are listed; each is built only when asked for (the MLP picks
// its BLAS and loads data).
var runnerWorkloads = []runnerWorkload{
	{trials.WorkloadExec, func(_ runnerOptions, log *slog.Logger) workload.Workload {
		return command.New(command.Options{Logger: log})
	}},
	{trials.WorkloadMNISTMLP, func(o runnerOptions, _ *slog.Logger) workload.Workload {
		return mnist.New(mnist.Options{DataDir: o.mnistDir})
	}},
}

func workloadTypes() []string {
	var types []string
	for _, w := range runnerWorkloads {
		types = append(types, w.typ)
	}
	return types
}

func newRunnerCommand() *cobra.Command {
	o := runnerOptions{}
	cmd := &cobra.Command{
		Use:   "runner",
		Short: "Lease trials from a tune server and run them",
		Long: `Run trials for a tune server: lease a trial of any running study whose
workload this runner offers, train it, heartbeat and report each epoch, tell
the result, and lease the next one. An unreachable server is waited for.
SIGTERM or Ctrl-C stops the running trials (told failed) and exits.

Workloads: mnist-mlp (gorgonia MLP on MNIST-format IDX data) and exec (any
command speaking the TUNE_REPORT / TUNE_RESULT protocol on stdout).`,
		Example: `  tune runner --server http://tune:8080 --id gpu-box-1 --device cuda:0
  tune runner --workloads exec --parallel 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRunner(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.id, "id", os.Getenv("TUNE_RUNNER_ID"), "the runner's name in leases and trial listings; hostname-pid when empty (env TUNE_RUNNER_ID)")
	f.StringSliceVar(&o.workloads, "workloads", splitList(envOr("TUNE_RUNNER_WORKLOADS", strings.Join(workloadTypes(), ","))),
		"workload types to lease trials for (env TUNE_RUNNER_WORKLOADS)")
	f.StringVar(&o.device, "device", envOr("TUNE_RUNNER_DEVICE", "cpu"), "where trials run: cpu or cuda:N (env TUNE_RUNNER_DEVICE)")
	f.IntVar(&o.parallel, "parallel", 1, "trials run at once (env TUNE_RUNNER_PARALLEL)")
	f.StringVar(&o.mnistDir, "mnist-dir", "", "directory of the MNIST IDX files; else $TUNE_MNIST_DIR, else the GoMNIST module's copy")
	f.StringVar(&o.logFormat, "log-format", envOr("TUNE_LOG_FORMAT", "text"), "log format: text or json (env TUNE_LOG_FORMAT)")
	f.BoolVar(&o.idleExit, "exit-when-idle", false, "exit once a lease request finds no work within --lease-wait (for scripts and batch jobs)")
	f.IntVar(&o.leaseWait, "lease-wait", runner.DefaultWaitSeconds, "seconds each lease request waits for work (1-60)")
	f.StringVar(&o.logLevel, "log-level", envOr("TUNE_LOG_LEVEL", "info"), "debug (with every line exec commands print), info, warn or error (env TUNE_LOG_LEVEL)")
	return cmd
}

// runnerConfig checks the flags and builds the runner's configuration.
func runnerConfig(cmd *cobra.Command, o runnerOptions, log *slog.Logger) (runner.Config, error) {
	server, err := resolveServer(cmd.Flag("server").Value.String(), cmd.Flags().Changed("server"), os.Getenv(serverEnv))
	if err != nil {
		return runner.Config{}, err
	}
	if v := os.Getenv("TUNE_RUNNER_PARALLEL"); v != "" && !cmd.Flags().Changed("parallel") {
		if o.parallel, err = strconv.Atoi(v); err != nil {
			return runner.Config{}, fmt.Errorf("TUNE_RUNNER_PARALLEL=%q is not a number", v)
		}
	}
	if o.parallel < 1 {
		return runner.Config{}, fmt.Errorf("--parallel must be at least 1, got %d", o.parallel)
	}
	if o.leaseWait < 1 || o.leaseWait > 60 {
		return runner.Config{}, fmt.Errorf("--lease-wait must be between 1 and 60 seconds, got %d", o.leaseWait)
	}
	device, err := runner.ParseDevice(o.device)
	if err != nil {
		return runner.Config{}, fmt.Errorf("--device %w", err)
	}
	var chosen []workload.Workload
	var seen []string
	for _, name := range o.workloads {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(seen, name) {
			continue
		}
		i := slices.IndexFunc(runnerWorkloads, func(w runnerWorkload) bool { return w.typ == name })
		if i < 0 {
			return runner.Config{}, fmt.Errorf("--workloads: unknown workload %q; this runner offers %s", name, strings.Join(workloadTypes(), ", "))
		}
		seen = append(seen, name)
		chosen = append(chosen, runnerWorkloads[i].new(o, log))
	}
	if len(chosen) == 0 {
		return runner.Config{}, fmt.Errorf("--workloads is empty; choose among %s", strings.Join(workloadTypes(), ", "))
	}
	if device != "cpu" && slices.Contains(seen, trials.WorkloadMNISTMLP) {
		return runner.Config{}, fmt.Errorf("--device %s: mnist-mlp trains on the CPU only in this version; on a GPU runner pass --workloads exec", device)
	}
	token, err := clientToken(cmd, server)
	if err != nil {
		return runner.Config{}, err
	}
	return runner.Config{
		Server:       server,
		HTTPClient:   withToken(&http.Client{}, token),
		ID:           o.id,
		Device:       device,
		Parallel:     o.parallel,
		Workloads:    chosen,
		Logger:       log,
		ExitWhenIdle: o.idleExit,
		WaitSeconds:  o.leaseWait,
	}, nil
}

func runRunner(cmd *cobra.Command, o runnerOptions) error {
	log, err := runnerLogger(cmd.ErrOrStderr(), o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	cfg, err := runnerConfig(cmd, o, log)
	if err != nil {
		return err
	}
	r, err := runner.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "tune runner %s: server %s, workloads %s, device %s, parallel %d, devices: %s\n",
		r.ID(), cfg.Server, strings.Join(r.Workloads(), ","), r.Device(), cfg.Parallel, describeDevices(r.Devices()))
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return r.Run(ctx)
}

// runnerLogger is newLogger with a level: at debug the runner logs what
// exec commands print.
func runnerLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

// describeDevices renders the advertised devices for the status line, e.g.
// "cpu (AMD EPYC 7B13, 62.8 GiB)".
func describeDevices(ds []openapi.Device) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		s := d.Kind
		if d.Kind != "cpu" && d.Index != nil {
			s += ":" + strconv.Itoa(*d.Index)
		}
		var details []string
		if d.Name != nil {
			details = append(details, *d.Name)
		}
		if d.MemoryBytes != nil {
			details = append(details, fmt.Sprintf("%.1f GiB", float64(*d.MemoryBytes)/(1<<30)))
		}
		if d.ComputeCapability != nil {
			details = append(details, "compute "+*d.ComputeCapability)
		}
		if len(details) > 0 {
			s += " (" + strings.Join(details, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
