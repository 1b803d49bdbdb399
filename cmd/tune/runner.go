package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
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

// defaultLeaseWait is --lease-wait's default.
const defaultLeaseWait = runner.DefaultWaitSeconds

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
	allowExec []string
	allow     command.Allow // allowExec, resolved
}

type runnerWorkload struct {
	typ string
	new func(o runnerOptions, log *slog.Logger) workload.Workload
}

// runnerWorkloads are the workloads `tune runner` offers, by type, in the
// order they are listed; each is built only when asked for (the MLP picks
// its BLAS and loads data).
var runnerWorkloads = []runnerWorkload{
	{trials.WorkloadExec, func(o runnerOptions, log *slog.Logger) workload.Workload {
		return command.New(command.Options{Logger: log, Allow: o.allow})
	}},
	{trials.WorkloadMNISTMLP, func(o runnerOptions, _ *slog.Logger) workload.Workload {
		return mnist.New(mnist.Options{DataDir: o.mnistDir})
	}},
}

// defaultRunnerWorkloads are offered when --workloads is not given: exec
// runs commands, so it is offered only once --allow-exec names some.
func defaultRunnerWorkloads() []string { return []string{trials.WorkloadMNISTMLP} }

// workloadTypes are all the workloads this runner can offer.
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

Workloads: mnist-mlp (gorgonia MLP on MNIST-format IDX data, the default)
and exec (a command speaking the TUNE_REPORT / TUNE_RESULT protocol on
stdout). exec runs only the programs --allow-exec names: a program (a path,
or a name looked up in PATH) or a directory ending in / (any program under
it); giving --allow-exec adds exec to the default workloads.`,
		Example: `  tune runner --server http://tune:8080 --id gpu-box-1 --device cuda:0 --workloads exec --allow-exec /opt/venv/bin/python
  tune runner --allow-exec /srv/train/ --parallel 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRunner(cmd, o)
		},
	}
	f := cmd.Flags()
	bind(f, "id", &o.id)
	bind(f, "workloads", &o.workloads)
	bind(f, "allow-exec", &o.allowExec)
	bind(f, "device", &o.device)
	bind(f, "parallel", &o.parallel)
	bind(f, "mnist-dir", &o.mnistDir)
	bind(f, "log-format", &o.logFormat)
	bind(f, "exit-when-idle", &o.idleExit)
	bind(f, "lease-wait", &o.leaseWait)
	bind(f, "log-level", &o.logLevel)
	return cmd
}

// runnerConfig checks the flags and builds the runner's configuration.
func runnerConfig(cmd *cobra.Command, o runnerOptions, log *slog.Logger) (runner.Config, error) {
	server, err := parseServer(cmd.Flag("server").Value.String())
	if err != nil {
		return runner.Config{}, err
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
	if o.allow, err = command.ParseAllow(o.allowExec); err != nil {
		return runner.Config{}, fmt.Errorf("--allow-exec: %w", err)
	}
	// Changed covers TUNE_RUNNER_WORKLOADS too (applyEnv sets it).
	if !o.allow.Empty() && !cmd.Flags().Changed("workloads") {
		o.workloads = append(o.workloads, trials.WorkloadExec)
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
	if slices.Contains(seen, trials.WorkloadExec) && o.allow.Empty() {
		return runner.Config{}, fmt.Errorf("--workloads exec: this runner runs no commands until told which; add --allow-exec with the programs " +
			"or directories (ending in /) exec studies may run, e.g. --allow-exec python3 or --allow-exec /srv/train/ (env TUNE_RUNNER_ALLOW_EXEC)")
	}
	if len(chosen) == 0 {
		return runner.Config{}, fmt.Errorf("--workloads is empty; choose among %s", strings.Join(workloadTypes(), ", "))
	}
	if device != "cpu" && !mnist.GPU && slices.Contains(seen, trials.WorkloadMNISTMLP) {
		return runner.Config{}, fmt.Errorf("--device %s: mnist-mlp trains on the CPU only in a build without -tags tune_cuda; on a GPU runner pass --workloads exec --allow-exec PROGRAM, or use a tune_cuda build", device)
	}
	token, err := clientToken(cmd, server)
	if err != nil {
		return runner.Config{}, err
	}
	return runner.Config{
		Server:       server,
		Token:        token,
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
		r.ID(), redactURL(cfg.Server), strings.Join(r.Workloads(), ","), r.Device(), cfg.Parallel, describeDevices(r.Devices()))
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return r.Run(ctx)
}

// runnerLogger is newLogger with a level given by name: at debug the runner logs what
// exec commands print.
func runnerLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level)
	}
	return newLogger(w, format, l)
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
		if d.PeakFlops != nil {
			for _, p := range slices.Sorted(maps.Keys(*d.PeakFlops)) {
				details = append(details, fmt.Sprintf("%s gemm %.1f GFLOP/s", p, (*d.PeakFlops)[p]/1e9))
			}
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
