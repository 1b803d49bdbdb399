package command_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/command"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// startExecRunner runs a runner with only the exec workload, allowed to
// run sh and the programs in allow.
func startExecRunner(e *runnertest.Env, parallel int, allow ...string) {
	e.StartRunner(runner.Config{ID: "exec-runner", Parallel: parallel, Workloads: []workload.Workload{execWorkload(e.T, allow...)}})
}

func execWorkload(t testing.TB, allow ...string) *command.Workload {
	a, err := command.ParseAllow(append([]string{"sh"}, allow...))
	if err != nil {
		t.Fatal(err)
	}
	return command.New(command.Options{Logger: runnertest.Logger(t), KillGrace: time.Second, Allow: a})
}

// execStudy is a study of an exec workload running a shell script.
func execStudy(name, script string, extra map[string]any) map[string]any {
	s := map[string]any{
		"name":         name,
		"objective":    map[string]any{"metric": "loss", "direction": "minimize"},
		"search_space": map[string]any{"x": map[string]any{"type": "float", "low": 0, "high": 1}},
		"workload":     map[string]any{"type": "exec", "options": map[string]any{"command": []string{"sh", "-c", script}}},
		"max_trials":   1,
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// createUnchecked writes a study straight to the store, as a service
// from before workload options were checked at creation would have.
func createUnchecked(t *testing.T, e *runnertest.Env, body map[string]any) {
	t.Helper()
	w := body["workload"].(map[string]any)
	opts := w["options"].(map[string]any)
	argv := opts["command"].([]string)
	opts["command"] = []any{argv[0], argv[1], argv[2]}
	st := trials.Study{
		Name:        body["name"].(string),
		Objective:   trials.Objective{Metric: "loss", Direction: trials.Minimize},
		SearchSpace: trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}},
		Workload:    &trials.Workload{Type: w["type"].(string), Options: opts},
		MaxTrials:   1,
	}.WithDefaults()
	if _, err := e.Store.CreateStudy(context.Background(), st); err != nil {
		t.Fatal(err)
	}
}

func onlyTrial(t *testing.T, e *runnertest.Env, study string) openapi.Trial {
	t.Helper()
	e.Wait(30*time.Second, "study "+study+" to finish", func() bool { return e.Study(study).State == "done" })
	return e.Trials(study)[0]
}

func TestExampleTrainingScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	script, err := filepath.Abs("testdata/example_train.py")
	if err != nil {
		t.Fatal(err)
	}
	e := runnertest.New(t)
	e.CreateStudy(map[string]any{
		"name":      "example",
		"objective": map[string]any{"metric": "val_accuracy", "direction": "maximize"},
		"search_space": map[string]any{
			"learning_rate": map[string]any{"type": "float", "low": 1e-4, "high": 1, "log": true},
			"batch_size":    map[string]any{"type": "int", "low": 16, "high": 256, "log": true},
			"epochs":        map[string]any{"type": "int", "low": 3, "high": 3},
		},
		"workload": map[string]any{"type": "exec", "options": map[string]any{
			"command": []string{python, script},
			// Simulate even where torch is installed: quick and deterministic.
			"env": map[string]any{"EXAMPLE_SIMULATE": "1"},
		}},
		"max_trials": 2,
	})
	startExecRunner(e, 2, python)
	e.Wait(60*time.Second, "the study to finish", func() bool { return e.Study("example").State == "done" })
	for _, tr := range e.Trials("example") {
		if tr.State != "complete" || tr.Value == nil {
			t.Fatalf("trial %d: %s %q", tr.Number, tr.State, tr.Error)
		}
		if len(tr.IntermediateValues) != 3 {
			t.Errorf("trial %d has %d intermediate values, want one per epoch", tr.Number, len(tr.IntermediateValues))
		}
		for i, iv := range tr.IntermediateValues {
			if iv.Step != i || iv.Metrics == nil || (*iv.Metrics)["samples_per_second"] <= 0 {
				t.Errorf("trial %d step %d = %+v", tr.Number, i, iv)
			}
		}
		for _, m := range []string{"val_accuracy", "val_loss", "train_loss", "samples_per_second", "seconds_per_epoch", "wall_seconds"} {
			if _, ok := tr.Metrics[m]; !ok {
				t.Errorf("trial %d lacks metric %s: %v", tr.Number, m, tr.Metrics)
			}
		}
		if *tr.Value != tr.Metrics["val_accuracy"] || *tr.Value != tr.IntermediateValues[2].Value {
			t.Errorf("trial %d value %v, want the final val_accuracy %v", tr.Number, *tr.Value, tr.Metrics["val_accuracy"])
		}
	}
}

func TestEnvironmentAndSteps(t *testing.T) {
	e := runnertest.New(t)
	dir := t.TempDir()
	// The script checks what it was given and echoes params back as
	// metrics; its reports name no step.
	script := `
set -e
test "$TUNE_PARAM_ACTIVATION" = relu
case "$TUNE_PARAM_BATCH_SIZE" in *.*) echo "batch_size $TUNE_PARAM_BATCH_SIZE has a decimal point" >&2; exit 1;; esac
case "$TUNE_PARAMS" in *'"activation":"relu"'*) ;; *) echo "TUNE_PARAMS=$TUNE_PARAMS" >&2; exit 1;; esac
test "$TUNE_DEVICE" = cpu
test "$TUNE_STUDY" = env
test "$TUNE_OBJECTIVE" = loss
test -n "$TUNE_TRIAL_ID"
test "$FROM_OPTIONS" = yes
test "$(pwd)" = "$EXPECT_DIR"
echo "some ordinary output"
echo 'TUNE_REPORT {"loss": 1}'
echo 'TUNE_REPORT {"loss": 0.5, "note": "not a number"}'
echo "TUNE_RESULT {\"loss\": $TUNE_PARAM_LR, \"bs\": $TUNE_PARAM_BATCH_SIZE, \"number\": $TUNE_TRIAL_NUMBER}"
`
	e.CreateStudy(map[string]any{
		"name":      "env",
		"objective": map[string]any{"metric": "loss"},
		"search_space": map[string]any{
			"lr":         map[string]any{"type": "float", "low": 0.001, "high": 0.1},
			"batch_size": map[string]any{"type": "int", "low": 16, "high": 64},
			"activation": map[string]any{"type": "categorical", "choices": []string{"relu"}},
		},
		"workload": map[string]any{"type": "exec", "options": map[string]any{
			"command": []string{"sh", "-c", script},
			"env":     map[string]any{"FROM_OPTIONS": "yes", "EXPECT_DIR": dir},
			"dir":     dir,
		}},
		"max_trials": 1,
	})
	startExecRunner(e, 1)
	tr := onlyTrial(t, e, "env")
	if tr.State != "complete" {
		t.Fatalf("trial %s: %s", tr.State, tr.Error)
	}
	if tr.Metrics["bs"] != tr.Params["batch_size"] || *tr.Value != tr.Params["lr"] || tr.Metrics["number"] != 0 {
		t.Errorf("metrics %v value %v, want the params %v echoed back", tr.Metrics, *tr.Value, tr.Params)
	}
	if len(tr.IntermediateValues) != 2 || tr.IntermediateValues[0].Step != 0 || tr.IntermediateValues[1].Step != 1 || tr.IntermediateValues[1].Value != 0.5 {
		t.Errorf("intermediate values = %+v, want steps 0 and 1 counted", tr.IntermediateValues)
	}
}

func TestFailingCommands(t *testing.T) {
	e := runnertest.Unstarted(t)
	tap := e.StartTapped()
	limit := map[string]any{"max_memory_bytes": 1 << 40}
	sdk, err := filepath.Abs("../../sdk/python")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, script string
		options      map[string]any
		kind         string
		want         []string
		// stopped: the command would sleep a minute; it must be
		// stopped well before.
		stopped bool
	}{
		{name: "crash", script: `echo "loading data" >&2; echo "RuntimeError: CUDA out of memory (simulated)" >&2; exit 3`,
			kind: "oom", want: []string{"exited with status 3", "loading data\nRuntimeError: CUDA out of memory (simulated)"}},
		{name: "torch-oom", script: `echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB" >&2; exit 1`, kind: "oom"},
		{name: "python-memory-error", script: `exec /usr/bin/python3 -c "x = bytearray(1 << 62)"`, kind: "oom", want: []string{"MemoryError"}},
		{name: "bad-alloc", script: `echo "terminate called after throwing an instance of 'std::bad_alloc'" >&2; kill -ABRT $$`, kind: "oom"},
		{name: "over-memory-limit", script: `exec /usr/bin/python3 -c "import time; x = b'x' * (300 << 20); print('allocated', flush=True); time.sleep(60)"`,
			options: map[string]any{"max_memory_bytes": 100 << 20}, kind: "oom", stopped: true,
			want: []string{"over max_memory_bytes 104857600, and were killed"}},
		{name: "sigkill-under-limit", script: `kill -9 $$`, options: limit, kind: "oom",
			want: []string{"killed by signal 9", "SIGKILL under max_memory_bytes"}},
		{name: "oom-killer", script: `echo "sh: line 1:  4242 Killed    python3 train.py" >&2; kill -9 $$`, kind: "oom",
			want: []string{"taken as the kernel's OOM killer"}},
		{name: "timeout", script: `echo "still going" >&2; exec sleep 60`, options: map[string]any{"timeout_seconds": 0.5},
			kind: "timeout", want: []string{"timed out after 500ms", "still going"}, stopped: true},
		{name: "no-result", script: `echo 'TUNE_REPORT {"loss": 1}'; echo done`,
			kind: "error", want: []string{"without printing a TUNE_RESULT line"}},
		{name: "malformed", script: `echo 'TUNE_REPORT {"loss": 1,}'; exec sleep 60`,
			kind: "error", want: []string{"malformed line", `TUNE_REPORT {\"loss\": 1,}`}, stopped: true},
		{name: "nan-report", script: `echo 'TUNE_REPORT {"loss": NaN}'; exec sleep 60`,
			kind: "diverged", want: []string{"objective metric loss is NaN at step 0"}, stopped: true},
		{name: "nan-result", script: `echo 'TUNE_RESULT {"loss": Infinity}'`,
			kind: "diverged", want: []string{"objective metric loss is +Inf"}},
		{name: "said-diverged", script: `echo 'TUNE_RESULT {"failure_kind": "diverged", "error": "loss exploded at step 7"}'`,
			kind: "diverged", want: []string{"loss exploded at step 7 (diverged)"}},
		{name: "said-oom", script: `echo 'TUNE_RESULT {"failure_kind": "oom"}'; echo "bye" >&2; exit 1`,
			kind: "oom", want: []string{"the command said the trial failed (oom)", "bye"}},
		{name: "sdk-fail", script: `PYTHONPATH="$SDK" exec /usr/bin/python3 -c 'from tune import script; script.fail("oom", "batch 512 does not fit")'`,
			options: map[string]any{"env": map[string]any{"SDK": sdk}}, kind: "oom", want: []string{"batch 512 does not fit (oom)"}},
		{name: "said-nonsense", script: `echo 'TUNE_RESULT {"failure_kind": "bored"}'`,
			kind: "error", want: []string{`"failure_kind" must be one of`}},
		{name: "signal", script: `kill -9 $$`, kind: "error", want: []string{"killed by signal 9"}},
		// The service refuses this study at creation (see
		// TestWorkloadOptionsRefusedAtCreation in service); one written by an older
		// service reaches the runner, which refuses it the same way.
		{name: "bad-option", script: `true`, options: map[string]any{"timeout": 5.0}, kind: "error", want: []string{`unknown option "timeout" for workload exec`}},
	}
	for _, tc := range cases {
		s := execStudy(tc.name, tc.script, nil)
		opts := s["workload"].(map[string]any)["options"].(map[string]any)
		for k, v := range tc.options {
			opts[k] = v
		}
		if tc.name == "bad-option" {
			createUnchecked(t, e, s)
			continue
		}
		e.CreateStudy(s)
	}
	startExecRunner(e, len(cases))
	for _, tc := range cases {
		tr := onlyTrial(t, e, tc.name)
		if kind := tap.FailureKind(e, tr.Id); tr.State != "failed" || kind != tc.kind {
			t.Errorf("%s: trial %s with failure_kind %q, want failed with %q (error %q)", tc.name, tr.State, kind, tc.kind, tr.Error)
		}
		for _, w := range tc.want {
			if !strings.Contains(tr.Error, w) {
				t.Errorf("%s: error %q lacks %q", tc.name, tr.Error, w)
			}
		}
		if took := tr.FinishedAt.Sub(*tr.StartedAt); tc.stopped && took > 45*time.Second {
			t.Errorf("%s: took %s: the command was not stopped", tc.name, took)
		}
	}
}

// sleeper writes the pid of a child it starts to $PID_DIR/<trial number>,
// reports per its "quality" param, and waits for the child unless good.
const sleeper = `
if [ "$TUNE_PARAM_QUALITY" = good ]; then
	for i in 0 1 2; do echo "TUNE_REPORT {\"step\": $i, \"acc\": 0.9}"; done
	echo 'TUNE_RESULT {"acc": 0.9}'
	exit 0
fi
sleep 300 &
echo $! > "$PID_DIR/$TUNE_TRIAL_NUMBER"
echo 'TUNE_REPORT {"step": 0, "acc": 0.1}'
wait
`

func pidOf(t *testing.T, dir string, number int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(number)))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func sleeperStudy(name, dir string, extra map[string]any) map[string]any {
	s := map[string]any{
		"name":         name,
		"objective":    map[string]any{"metric": "acc", "direction": "maximize"},
		"search_space": map[string]any{"quality": map[string]any{"type": "categorical", "choices": []string{"good", "bad"}}},
		"workload": map[string]any{"type": "exec", "options": map[string]any{
			"command": []string{"sh", "-c", sleeper},
			"env":     map[string]any{"PID_DIR": dir},
		}},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

func TestPrunedCommandIsKilled(t *testing.T) {
	e := runnertest.New(t)
	dir := t.TempDir()
	e.CreateStudy(sleeperStudy("prune", dir, map[string]any{
		"pruner":     map[string]any{"type": "median", "startup_trials": 1, "warmup_steps": 0},
		"max_trials": 2,
	}))
	// Enqueued trials are handed out in order: the good one finishes first
	// and sets the median the bad one falls below at its first report.
	e.Enqueue("prune", map[string]any{"quality": "good"})
	bad := e.Enqueue("prune", map[string]any{"quality": "bad"})
	startExecRunner(e, 1)
	tr := e.WaitTrial(bad.Id, 30*time.Second, runnertest.Finished)
	if tr.State != "pruned" || tr.Value == nil || *tr.Value != 0.1 {
		t.Errorf("bad trial = %s value %v error %q, want pruned at 0.1", tr.State, tr.Value, tr.Error)
	}
	if child := pidOf(t, dir, tr.Number); runnertest.Alive(child) {
		t.Errorf("the pruned command's child %d still runs", child)
	}
}

func TestStoppedStudyKillsCommand(t *testing.T) {
	e := runnertest.New(t)
	dir := t.TempDir()
	e.CreateStudy(sleeperStudy("stop", dir, map[string]any{"lease_seconds": 3}))
	bad := e.Enqueue("stop", map[string]any{"quality": "bad"})
	startExecRunner(e, 1)
	e.WaitTrial(bad.Id, 30*time.Second, func(tr openapi.Trial) bool { return len(tr.IntermediateValues) == 1 })
	e.Do("PATCH", "/studies/stop", map[string]any{"state": "done"}, nil)
	tr := e.WaitTrial(bad.Id, 30*time.Second, runnertest.Finished)
	if tr.State != "pruned" || !strings.Contains(tr.Error, "stopped") {
		t.Errorf("trial of the stopped study = %s %q", tr.State, tr.Error)
	}
	if child := pidOf(t, dir, tr.Number); runnertest.Alive(child) {
		t.Errorf("the stopped command's child %d still runs", child)
	}
	if n := len(e.Trials("stop")); n != 1 {
		t.Errorf("%d trials, want no new one after the stop", n)
	}
}
