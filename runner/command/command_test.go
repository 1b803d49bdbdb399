package command

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

func TestParseLine(t *testing.T) {
	step := func(n int) *int { return &n }
	cases := []struct {
		line    string
		want    message
		ok      bool
		wantErr string
	}{
		{line: "epoch 3: loss 0.2"},
		{line: "TUNE_PARAMS={\"lr\": 1}"},
		{line: "TUNE_"},
		{line: `TUNE_REPORT {"step": 3, "loss": 0.2, "note": "warm", "lr": 1e-3}`, ok: true,
			want: message{directive: "TUNE_REPORT", step: step(3), metrics: map[string]float64{"loss": 0.2, "lr": 0.001}}},
		{line: `  TUNE_REPORT   {"loss": 1}  `, ok: true, want: message{directive: "TUNE_REPORT", metrics: map[string]float64{"loss": 1}}},
		{line: `TUNE_RESULT {"val_accuracy": 0.97, "step": 9}`, ok: true,
			want: message{directive: "TUNE_RESULT", metrics: map[string]float64{"val_accuracy": 0.97, "step": 9}}},
		{line: `TUNE_RESULT {}`, ok: true, want: message{directive: "TUNE_RESULT", metrics: map[string]float64{}}},
		{line: `TUNE_REPORT {"loss": NaN, "a": Infinity, "b": -Infinity, "note": "NaN", "c": [NaN]}`, ok: true,
			want: message{directive: "TUNE_REPORT", metrics: map[string]float64{"loss": math.NaN(), "a": math.Inf(1), "b": math.Inf(-1)}}},
		{line: `TUNE_RESULT {"failure_kind": "oom", "error": "batch too big", "loss": 3}`, ok: true,
			want: message{directive: "TUNE_RESULT", metrics: map[string]float64{"loss": 3}, failureKind: trials.FailureOOM, errText: "batch too big"}},
		{line: `TUNE_RESULT {"failure_kind": "bored"}`, ok: true, wantErr: `"failure_kind" must be one of oom, diverged, timeout, error, preempted, got "bored"`},
		{line: `TUNE_RESULT {"failure_kind": 1}`, ok: true, wantErr: `"failure_kind" must be one of`},
		{line: `TUNE_RESULT {"error": 1}`, ok: true, wantErr: `"error" must be a string`},
		{line: `TUNE_REPORT {"loss": NaNa}`, ok: true, wantErr: "must be followed by a JSON object"},
		{line: `TUNE_REPORT {"loss": xNaN}`, ok: true, wantErr: "must be followed by a JSON object"},
		{line: `TUNE_REPORT`, ok: true, wantErr: "must be followed by a JSON object"},
		{line: `TUNE_REPORT [1, 2]`, ok: true, wantErr: "must be followed by a JSON object"},
		{line: `TUNE_REPORT null`, ok: true, wantErr: "must be followed by a JSON object"},
		{line: `TUNE_REPORT {"loss": 1} trailing`, ok: true, wantErr: "unexpected text"},
		{line: `TUNE_REPORT {"step": -1, "loss": 1}`, ok: true, wantErr: "non-negative integer"},
		{line: `TUNE_REPORT {"step": 1.5, "loss": 1}`, ok: true, wantErr: "non-negative integer"},
		{line: `TUNE_REPORT {"step": "1", "loss": 1}`, ok: true, wantErr: "non-negative integer"},
		{line: `TUNE_REPORT {"loss": 1e999}`, ok: true, wantErr: "out of range"},
		{line: `TUNE_REPORTS {"loss": 1}`, ok: true, wantErr: "unknown directive TUNE_REPORTS"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"wall_seconds": 2, "phases": {"data": 0.5, "forward_2": 1}, "rss_peak_bytes": 1048576, "matmul_flops": 1e9}}`, ok: true,
			want: message{directive: "TUNE_REPORT", metrics: map[string]float64{"loss": 1}, profile: &trials.Profile{
				WallSeconds: 2, Phases: map[string]float64{"data": 0.5, "forward_2": 1}, RSSPeakBytes: 1 << 20, MatmulFLOPs: 1e9}}},
		// wall_seconds defaults to the phases' sum.
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"data": 0.5, "forward": 1}}}`, ok: true,
			want: message{directive: "TUNE_REPORT", metrics: map[string]float64{"loss": 1}, profile: &trials.Profile{
				WallSeconds: 1.5, Phases: map[string]float64{"data": 0.5, "forward": 1}}}},
		// A result's profile is a note, as any non-number is.
		{line: `TUNE_RESULT {"loss": 1, "profile": {"phases": 3}}`, ok: true,
			want: message{directive: "TUNE_RESULT", metrics: map[string]float64{"loss": 1}}},
		{line: `TUNE_REPORT {"loss": 1, "profile": [1]}`, ok: true, wantErr: `"profile" must be a JSON object`},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": [1]}}`, ok: true, wantErr: `"phases" must be a JSON object`},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"Forward": 1}}}`, ok: true, wantErr: `phase name "Forward"`},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"": 1}}}`, ok: true, wantErr: `phase name ""`},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"` + strings.Repeat("a", 65) + `": 1}}}`, ok: true, wantErr: "phase name"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": ` + manyPhases(33) + `}}`, ok: true, wantErr: "33 phases; at most 32"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"data": -1}}}`, ok: true, wantErr: "phases.data = -1 is negative"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"phases": {"data": "1"}}}`, ok: true, wantErr: "phases.data must be a number"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"wall_seconds": 1e999}}`, ok: true, wantErr: "wall_seconds = 1e999 is out of range"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"rss_peak_bytes": 1.5}}`, ok: true, wantErr: "whole number of bytes"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"rss_peak_bytes": 1e30}}`, ok: true, wantErr: "whole number of bytes"},
		{line: `TUNE_REPORT {"loss": 1, "profile": {"wall": 1}}`, ok: true, wantErr: `unknown profile field "wall"`},
	}
	for _, tc := range cases {
		m, ok, err := parseLine(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: directive = %v, want %v", tc.line, ok, tc.ok)
		}
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one containing %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if tc.ok {
			if diff := cmp.Diff(tc.want, m, cmp.AllowUnexported(message{}), cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("%q: (-want +got)\n%s", tc.line, diff)
			}
		}
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add(`TUNE_REPORT {"step": 3, "loss": 0.2}`)
	f.Add(`TUNE_RESULT {"a": 1e308, "b": "x"}`)
	f.Add(`TUNE_X y`)
	f.Add(`TUNE_REPORT {"loss": 1, "profile": {"wall_seconds": 2, "phases": {"data": 0.5}, "heap_peak_bytes": 7}}`)
	f.Fuzz(func(t *testing.T, line string) {
		m, ok, err := parseLine(line)
		if err != nil || !ok {
			return
		}
		// Only the words NaN and Infinity make a metric non-finite.
		for k, v := range m.metrics {
			if !trials.Finite(v) && !strings.Contains(line, "NaN") && !strings.Contains(line, "Infinity") {
				t.Errorf("%q: metric %s = %v", line, k, v)
			}
		}
		if m.step != nil && *m.step < 0 {
			t.Errorf("%q: step %d", line, *m.step)
		}
		if p := m.profile; p != nil {
			figures := []float64{p.WallSeconds, p.MatmulFLOPs, p.MatmulSeconds, p.PeakFLOPS,
				float64(p.HeapPeakBytes), float64(p.RSSPeakBytes), float64(p.DeviceBytes), float64(p.DevicePeakBytes)}
			for name, v := range p.Phases {
				if !validPhaseName(name) {
					t.Errorf("%q: phase %q", line, name)
				}
				figures = append(figures, v)
			}
			for _, v := range figures {
				if !trials.Finite(v) || v < 0 {
					t.Errorf("%q: profile %+v", line, p)
				}
			}
			if len(p.Phases) > maxProfilePhases {
				t.Errorf("%q: %d phases", line, len(p.Phases))
			}
		}
	})
}

func manyPhases(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"p%d": 1`, i))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func TestParseOptions(t *testing.T) {
	sp, err := parseOptions(map[string]any{
		"command":          []any{"python3", "train.py", "--fast"},
		"timeout_seconds":  90.0,
		"env":              map[string]any{"OMP_NUM_THREADS": 4.0, "MODE": "fast"},
		"dir":              "/tmp",
		"max_memory_bytes": 1e9,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := spec{argv: []string{"python3", "train.py", "--fast"}, timeout: 90 * time.Second,
		env: map[string]string{"OMP_NUM_THREADS": "4", "MODE": "fast"}, dir: "/tmp", maxMemory: 1e9}
	if diff := cmp.Diff(want, sp, cmp.AllowUnexported(spec{})); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if sp, _ := parseOptions(map[string]any{"command": []any{"true"}}); sp.timeout != DefaultTimeout {
		t.Errorf("default timeout = %s", sp.timeout)
	}
	for name, opts := range map[string]map[string]any{
		"no command":        {},
		"empty command":     {"command": []any{}},
		"string command":    {"command": "python3 train.py"},
		"number in argv":    {"command": []any{"sleep", 1.0}},
		"empty program":     {"command": []any{""}},
		"zero timeout":      {"command": []any{"true"}, "timeout_seconds": 0.0},
		"string timeout":    {"command": []any{"true"}, "timeout_seconds": "60"},
		"env not a map":     {"command": []any{"true"}, "env": []any{"A=1"}},
		"env value object":  {"command": []any{"true"}, "env": map[string]any{"A": map[string]any{}}},
		"env bad name":      {"command": []any{"true"}, "env": map[string]any{"A=B": "1"}},
		"dir not a string":  {"command": []any{"true"}, "dir": 1.0},
		"misspelt option":   {"command": []any{"true"}, "timeout": 60.0},
		"zero memory":       {"command": []any{"true"}, "max_memory_bytes": 0.0},
		"fractional memory": {"command": []any{"true"}, "max_memory_bytes": 1.5},
	} {
		if _, err := parseOptions(opts); err == nil {
			t.Errorf("%s: accepted %v", name, opts)
		}
	}
}

func TestEnviron(t *testing.T) {
	sp := spec{env: map[string]string{"MODE": "fast", "HOME": "/study"}}
	tr := workload.Trial{ID: 42, Number: 7, Study: "mnist", Device: "cuda:1",
		Objective:  trials.Objective{Metric: "val_accuracy", Direction: trials.Maximize},
		Objectives: []trials.Objective{{Metric: "val_accuracy", Direction: trials.Maximize}, {Metric: "seconds_to_accuracy", Direction: trials.Minimize}},
		Params:     map[string]any{"batch_size": int64(128), "learning_rate": 0.001, "activation": "relu", "layers": 2.0, "huge": 1e21}}
	env, err := environ([]string{"HOME=/root", "PATH=/bin"}, sp, tr)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"HOME=/root", "PATH=/bin", "HOME=/study", "MODE=fast",
		`TUNE_PARAMS={"activation":"relu","batch_size":128,"huge":1e+21,"layers":2,"learning_rate":0.001}`,
		"TUNE_TRIAL_ID=42", "TUNE_TRIAL_NUMBER=7", "TUNE_STUDY=mnist", "TUNE_DEVICE=cuda:1", "TUNE_OBJECTIVE=val_accuracy",
		`TUNE_OBJECTIVES=[{"metric":"val_accuracy","direction":"maximize"},{"metric":"seconds_to_accuracy","direction":"minimize"}]`,
		"TUNE_PARAM_ACTIVATION=relu", "TUNE_PARAM_BATCH_SIZE=128", "TUNE_PARAM_HUGE=1e+21", "TUNE_PARAM_LAYERS=2", "TUNE_PARAM_LEARNING_RATE=0.001",
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestReadLinesCutsLongLines(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes+10)
	input := "a\r\n" + long + "\nb\nno newline"
	type line struct {
		n   int
		cut bool
	}
	var got []line
	readLines(strings.NewReader(input), func(s string, cut bool) { got = append(got, line{len(s), cut}) })
	want := []line{{1, false}, {maxLineBytes, true}, {1, false}, {10, false}}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %v, want %v", got, want)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(3)
	if tl.String() != "" {
		t.Errorf("empty tail = %q", tl.String())
	}
	for i := range 5 {
		tl.add(strconv.Itoa(i))
	}
	if got := tl.String(); got != "2\n3\n4" {
		t.Errorf("tail = %q", got)
	}
}

// reporter records reports and prunes from step pruneAt on (never when
// negative).
type reporter struct {
	pruneAt int
	mu      sync.Mutex
	steps   []int
}

func (r *reporter) Report(_ context.Context, step int, _ map[string]float64, _ *trials.Profile) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, step)
	return r.pruneAt >= 0 && step >= r.pruneAt, nil
}

// allowShell allows sh, which the tests' scripts run in.
func allowShell(t *testing.T) Allow {
	t.Helper()
	a, err := ParseAllow([]string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run runs a shell script as an exec trial.
func run(t *testing.T, ctx context.Context, w *Workload, script string, rep workload.Reporter) (workload.Result, error) {
	t.Helper()
	return w.Run(ctx, workload.Trial{ID: 1, Study: "s", Device: "cpu", Params: map[string]any{"x": 1.0},
		Options: map[string]any{"command": []any{"sh", "-c", script}}}, rep)
}

// waitPID reads a pid a script wrote to path.
func waitPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// alive reports whether pid is a live process (zombies count as gone: they
// are dead, waiting for a parent that is not us to reap them).
func alive(pid int) bool { return runnertest.Alive(pid) }

func TestCancelEscalatesToSIGKILL(t *testing.T) {
	w := New(Options{Logger: runnertest.Logger(t), KillGrace: 300 * time.Millisecond, Allow: allowShell(t)})
	pidFile := filepath.Join(t.TempDir(), "child")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Both the shell and its child ignore SIGTERM (ignored signals are
		// inherited), so only SIGKILL ends them.
		_, err := run(t, ctx, w, fmt.Sprintf(`trap "" TERM; sleep 300 & echo $! > %s; wait; sleep 300`, pidFile), &reporter{pruneAt: -1})
		done <- err
	}()
	child := waitPID(t, pidFile)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %s, before the grace period was over", d)
	}
	if alive(child) {
		t.Errorf("child %d survived", child)
	}
}

func TestPruneStopsTheCommand(t *testing.T) {
	w := New(Options{Logger: runnertest.Logger(t), Allow: allowShell(t)})
	pidFile := filepath.Join(t.TempDir(), "child")
	rep := &reporter{pruneAt: 1}
	script := fmt.Sprintf(`sleep 300 & echo $! > %s
for i in 0 1 2 3; do echo "TUNE_REPORT {\"loss\": $i}"; done
wait`, pidFile)
	start := time.Now()
	_, err := run(t, context.Background(), w, script, rep)
	if !errors.Is(err, workload.ErrPruned) {
		t.Errorf("Run = %v, want ErrPruned", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("pruning took %s; SIGTERM should have ended the script at once", d)
	}
	if child := waitPID(t, pidFile); alive(child) {
		t.Errorf("child %d survived the prune", child)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if !slices.Equal(rep.steps, []int{0, 1}) {
		t.Errorf("reported steps %v, want [0 1]: nothing after the prune", rep.steps)
	}
}

func TestLeftoverProcessesAreEnded(t *testing.T) {
	w := New(Options{Logger: runnertest.Logger(t), KillGrace: 200 * time.Millisecond, Allow: allowShell(t)})
	pidFile := filepath.Join(t.TempDir(), "child")
	// The script exits at once, leaving a child that holds its stdout.
	res, err := run(t, context.Background(), w, fmt.Sprintf(`sleep 300 & echo $! > %s; echo 'TUNE_RESULT {"loss": 0.5}'`, pidFile), &reporter{pruneAt: -1})
	if err != nil || res.Metrics["loss"] != 0.5 {
		t.Errorf("Run = %+v, %v", res, err)
	}
	if child := waitPID(t, pidFile); alive(child) {
		t.Errorf("leftover child %d still runs", child)
	}
}

func TestStartFailure(t *testing.T) {
	w := New(Options{})
	_, err := w.Run(context.Background(), workload.Trial{Options: map[string]any{"command": []any{"/no/such/program"}}}, &reporter{pruneAt: -1})
	if err == nil || !strings.Contains(err.Error(), "starting /no/such/program") {
		t.Errorf("Run = %v", err)
	}
}

func TestObjectivesOfASingleObjectiveTrial(t *testing.T) {
	for want, tr := range map[string]workload.Trial{
		`[{"metric":"loss","direction":"minimize"}]`: {Objective: trials.Objective{Metric: "loss", Direction: trials.Minimize}},
		`[]`: {},
	} {
		if got := objectivesJSON(tr); got != want {
			t.Errorf("objectives = %s, want %s", got, want)
		}
	}
}

func TestOOMText(t *testing.T) {
	for _, s := range []string{
		"RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
		"torch.OutOfMemoryError: CUDA out of memory.",
		"torch.cuda.OutOfMemoryError: CUDA out of memory.",
		"Traceback (most recent call last):\n  File \"x.py\", line 1\nMemoryError",
		"numpy.core._exceptions._ArrayMemoryError: Unable to allocate 8.00 GiB",
		"builtins.MemoryError: boom",
		"terminate called after throwing an instance of 'std::bad_alloc'",
		"fatal error: runtime: out of memory",
		"jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1 bytes.",
		"RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
	} {
		if !oomText.MatchString(s) {
			t.Errorf("not taken for out of memory: %q", s)
		}
	}
	for _, s := range []string{
		"RuntimeError: CUDA error: device-side assert triggered",
		"ValueError: bad shape",
		"print(MemoryErrors)",
		"RESOURCE_EXHAUSTED: quota",
	} {
		if oomText.MatchString(s) {
			t.Errorf("taken for out of memory: %q", s)
		}
	}
}
