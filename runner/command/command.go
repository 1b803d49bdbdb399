// Package command is the exec workload: it runs any command per trial (a
// PyTorch script, a shell script, a binary) and speaks a line protocol with
// it. The trial's params arrive in the environment (TUNE_PARAMS as JSON and
// one TUNE_PARAM_<NAME> each); the command prints
//
//	TUNE_REPORT {"step": 3, "val_loss": 0.21, "samples_per_second": 5120}
//	TUNE_RESULT {"val_loss": 0.19, "val_accuracy": 0.94}
//
// on stdout, one report per epoch and one result at the end. Every other
// line is its own output, logged at debug level. TUNE_OBJECTIVE names the
// study's (first) objective metric, and TUNE_OBJECTIVES lists all of them
// as JSON, [{"metric": "val_accuracy", "direction": "maximize"}, ...]; a
// result must hold each. NaN, Infinity and -Infinity (what Python's
// json.dumps writes) are read as such: a non-finite objective fails the
// trial as diverged.
//
// A failed trial carries a kind. The command may say it, on a result line
// with the string fields failure_kind (oom, diverged, timeout, error or
// preempted) and error (the message; optional):
//
//	TUNE_RESULT {"failure_kind": "oom", "error": "batch 512 does not fit in 16 GB"}
//
// which fails the trial with that kind whatever the exit status (numbers
// on the line are ignored then). Otherwise the runner decides: timeout
// when timeout_seconds passed; oom when the command's processes passed
// max_memory_bytes (their summed resident memory, polled), when it exited
// non-zero and the last lines of its stderr hold a framework's
// out-of-memory message (see oomText), or when SIGKILL ended it under
// max_memory_bytes or after a shell printed "Killed" (the kernel's OOM
// killer); error for anything else.
//
// A report may carry a "profile" object, where the step's time and memory
// went, in trials.Profile's fields (see parseProfile for its rules); a
// report whose profile breaks them is skipped with a warning, and the
// command goes on.
//
// A runner runs only the programs its allow-list names (see Allow); any
// other command fails its trial without being started. The command gets
// the runner's environment except tune's own TUNE_ variables (the runner's
// token above all), and its stderr's last lines become a failed trial's
// error, which every reader of the study sees.
//
// The command runs in a process group of its own, so that pruning, a
// timeout or the runner stopping ends it and everything it started (data
// loader workers, say), not just the top process. On Linux the kernel
// also kills it when the runner dies. It needs a Unix; on Linux /proc
// tells when the whole group is gone.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// Type is the workload type exec studies name.
const Type = trials.WorkloadExec

// DefaultKillGrace is how long a stopped command gets between SIGTERM and
// SIGKILL.
const DefaultKillGrace = 5 * time.Second

// stderrLines is how many of the last stderr lines a failure quotes.
const stderrLines = 50

// memoryPoll is how often a command under max_memory_bytes is measured.
const memoryPoll = 100 * time.Millisecond

// drainTimeout is how long the output of a command that exited is read
// before whatever still holds its pipes open is ended.
const drainTimeout = time.Second

// Options configures the exec workload.
type Options struct {
	// Logger receives the commands' other output at debug level, and
	// warnings; slog.Default() when nil.
	Logger *slog.Logger
	// KillGrace is the time between SIGTERM and SIGKILL when a command is
	// stopped; DefaultKillGrace when zero.
	KillGrace time.Duration
	// Allow lists the programs commands may start; the zero Allow refuses
	// every command.
	Allow Allow
}

// Workload runs exec trials. It is safe for concurrent use.
type Workload struct {
	log   *slog.Logger
	grace time.Duration
	allow Allow
}

// New returns the exec workload.
func New(o Options) *Workload {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	return &Workload{log: o.Logger, grace: o.KillGrace, allow: o.Allow}
}

// Type implements workload.Workload.
func (w *Workload) Type() string { return Type }

// Errors that end a command early.
var (
	errPrune   = errors.New("the pruner stopped the trial")
	errTimeout = errors.New("timed out")
)

// Run implements workload.Workload: it runs the study's command with the
// trial's params, forwards its reports and returns its result.
func (w *Workload) Run(ctx context.Context, t workload.Trial, rep workload.Reporter) (workload.Result, error) {
	sp, err := parseOptions(t.Options)
	if err != nil {
		return workload.Result{}, err
	}
	path, err := w.allow.check(sp.argv[0], sp.dir)
	if err != nil {
		return workload.Result{}, err
	}
	env, err := environ(inherited(os.Environ()), sp, t)
	if err != nil {
		return workload.Result{}, err
	}
	log := w.log.With("study", t.Study, "trial", t.ID, "number", t.Number)

	// Pipes of our own rather than cmd.StdoutPipe: the child gets the
	// write ends directly, so cmd.Wait returns when the process exits
	// whatever its children do with the pipes, and the readers see EOF
	// once every holder has closed them.
	outR, outW, err := os.Pipe()
	if err != nil {
		return workload.Result{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return workload.Result{}, err
	}
	defer outR.Close()
	defer errR.Close()

	// The path checked is the path started; argv[0] stays as written.
	cmd := exec.Command(path, sp.argv[1:]...)
	cmd.Args[0] = sp.argv[0]
	cmd.Env = env
	cmd.Dir = sp.dir
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = procAttr()
	exited, err := start(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		// Not %v of cmd or its Env: an error is told to the service, and
		// the environment is the runner's business.
		return workload.Result{}, fmt.Errorf("starting %s: %w", sp.argv[0], err)
	}
	pgid := cmd.Process.Pid
	log.Debug("command started", "pid", pgid, "argv", sp.argv)

	s := &session{rep: rep, log: log, stop: make(chan error, 1), errTail: newTail(stderrLines)}
	var readers sync.WaitGroup
	readers.Go(func() { s.readStdout(ctx, outR) })
	readers.Go(func() { s.readStderr(errR) })
	readersDone := make(chan struct{})
	go func() {
		readers.Wait()
		close(readersDone)
	}()

	if sp.maxMemory > 0 {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go s.watchMemory(watchCtx, pgid, sp.maxMemory)
	}
	timer := time.NewTimer(sp.timeout)
	defer timer.Stop()
	var reason, waitErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		reason = ctx.Err()
	case <-timer.C:
		reason = errTimeout
	case reason = <-s.stop:
	}
	if reason != nil {
		if _, ok := errors.AsType[*errMemory](reason); ok {
			// Memory grows on: no grace period.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		waitErr = w.terminate(pgid, exited)
	} else {
		// The command exited: read what it wrote last, then end whatever
		// it left behind in its group (the trial is over) and stop waiting
		// for a stray process that keeps the pipes open.
		select {
		case <-readersDone:
		case <-time.After(drainTimeout):
		}
		if groupAlive(pgid) {
			log.Warn("the command exited but left processes behind; ending them", "pgid", pgid)
			w.terminate(pgid, nil)
		}
	}
	select {
	case <-readersDone:
	case <-time.After(drainTimeout):
		outR.Close()
		errR.Close()
		<-readersDone
	}
	if reason == nil {
		// A malformed line seen while the command was exiting.
		select {
		case reason = <-s.stop:
		default:
		}
	}

	switch {
	case ctx.Err() != nil:
		return workload.Result{}, ctx.Err()
	case errors.Is(reason, errPrune):
		return workload.Result{}, workload.ErrPruned
	case errors.Is(reason, errTimeout):
		return workload.Result{}, workload.Fail(trials.FailureTimeout,
			fmt.Errorf("command timed out after %s (timeout_seconds) and was killed%s", sp.timeout, s.stderr()))
	case reason != nil:
		if _, ok := errors.AsType[*errMemory](reason); ok {
			return workload.Result{}, workload.Fail(trials.FailureOOM, fmt.Errorf("%w%s", reason, s.stderr()))
		}
		return workload.Result{}, fmt.Errorf("%w%s", reason, s.stderr())
	}
	if kind, text := s.declared(); kind != "" || text != "" {
		return workload.Result{}, saidFailure(kind, text, s.stderr())
	}
	if waitErr != nil {
		return workload.Result{}, exitFailure(waitErr, s.stderr(), sp.maxMemory > 0)
	}
	res, ok := s.finalResult()
	if !ok {
		return workload.Result{}, fmt.Errorf("command exited with status 0 without printing a %s line%s", resultDirective, s.stderr())
	}
	return res, nil
}

// start starts cmd and waits for it on a goroutine locked to its OS
// thread until the command has exited: the parent-death signal is tied to
// the thread that forked the child, and a thread that Go retires (one a
// goroutine exits while locked to) would kill a healthy command.
func start(cmd *exec.Cmd) (<-chan error, error) {
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// inherited is the part of the runner's environment a command gets: all
// but the TUNE_ namespace, which holds the runner's own configuration
// (its token, its server) and which tune fills in per trial.
func inherited(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "TUNE_") })
}

// terminate ends the process group: SIGTERM, then SIGKILL after the grace
// period if the leader or any of its group still lives. exited is the
// leader's Wait, nil when it was already reaped; terminate returns its
// error.
func (w *Workload) terminate(pgid int, exited <-chan error) error {
	// ESRCH (the group is already gone) is the only error kill can give
	// here, and it means there is nothing left to do.
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(w.grace)
	defer grace.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var waitErr error
	for {
		if exited == nil && !groupAlive(pgid) {
			return waitErr
		}
		select {
		case waitErr = <-exited:
			exited = nil
		case <-poll.C:
		case <-grace.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if exited != nil {
				waitErr = <-exited
			}
			// SIGKILL is delivered asynchronously; wait briefly so that the
			// caller finds the group gone.
			for deadline := time.Now().Add(time.Second); groupAlive(pgid) && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			return waitErr
		}
	}
}

// groupAlive reports whether any live (not zombie) process is in process
// group pgid. Zombies are skipped because an orphan's zombie may linger
// until init reaps it, and it cannot be killed anyway.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and
		// parentheses, so split after its last ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// exitText describes how the command ended, for a failed trial's error.
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("was killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return "failed: " + err.Error()
}

// session is the state shared by one run's output readers.
type session struct {
	rep  workload.Reporter
	log  *slog.Logger
	stop chan error // the first reason the stdout reader found to stop

	mu       sync.Mutex
	stopping bool
	result   map[string]float64
	// failKind and failText are what a TUNE_RESULT said about a failure.
	failKind trials.FailureKind
	failText string
	errTail  *tail
}

// halt asks Run to stop the command, once.
func (s *session) halt(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	s.stopping = true
	s.stop <- err
}

func (s *session) halted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *session) readStdout(ctx context.Context, r *os.File) {
	next := 0 // the step of a report that names none
	readLines(r, func(line string, cut bool) {
		m, ok, err := parseLine(line)
		if ok && err == nil && cut {
			err = fmt.Errorf("line longer than %d bytes", maxLineBytes)
		}
		switch {
		case errors.Is(err, errBadProfile) && !cut:
			s.log.Warn("report line skipped: its profile is refused; the command goes on", "err", err, "line", clip(clean(line), 200))
		case err != nil:
			s.halt(fmt.Errorf("malformed line on the command's stdout: %s: %q", err, clip(line, 200)))
		case !ok:
			s.log.Debug("command output", "stream", "stdout", "line", line)
		case s.halted():
			// Stopping: later reports would only race the kill.
		case m.directive == reportDirective:
			step := next
			if m.step != nil {
				step = *m.step
			}
			next = step + 1
			prune, err := s.rep.Report(ctx, step, m.metrics, m.profile)
			switch {
			case err != nil:
				s.halt(fmt.Errorf("reporting step %d: %w", step, err))
			case prune:
				s.halt(errPrune)
			}
		case m.directive == resultDirective:
			s.mu.Lock()
			s.result = m.metrics
			s.failKind, s.failText = m.failureKind, m.errText
			s.mu.Unlock()
		}
	})
}

func (s *session) readStderr(r *os.File) {
	readLines(r, func(line string, _ bool) {
		line = clean(line)
		s.log.Debug("command output", "stream", "stderr", "line", line)
		s.mu.Lock()
		s.errTail.add(line)
		s.mu.Unlock()
	})
}

// declared is the failure the command's TUNE_RESULT declared, if any.
func (s *session) declared() (trials.FailureKind, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failKind, s.failText
}

// watchMemory polls the command's process group and stops it when its
// resident memory passes limit. Polling, not a cgroup: it needs no
// privileges or systemd, at the price of missing a spike shorter than
// the interval and of not seeing processes that leave the group.
func (s *session) watchMemory(ctx context.Context, pgid int, limit int64) {
	tick := time.NewTicker(memoryPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if used := groupRSS(pgid); used > limit {
			s.halt(&errMemory{used: used, limit: limit})
			return
		}
	}
}

func (s *session) finalResult() (workload.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return workload.Result{Metrics: s.result}, s.result != nil
}

// stderr is the end of the command's stderr for an error message, or ""
// when it wrote none.
func (s *session) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := strings.TrimSpace(s.errTail.String())
	if t == "" {
		return ""
	}
	return "; last lines of stderr:\n" + t
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
