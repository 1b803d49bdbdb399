package command_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
)

// A command the runner's allow-list does not name fails its trial with
// the reason and the fix, and is never started.
func TestCommandNotAllowedIsNotRun(t *testing.T) {
	touch, err := exec.LookPath("touch")
	if err != nil {
		t.Skip("no touch")
	}
	e := runnertest.New(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	s := execStudy("stranger", "", nil)
	s["workload"].(map[string]any)["options"].(map[string]any)["command"] = []string{"touch", marker}
	e.CreateStudy(s)
	e.CreateStudy(execStudy("allowed", `echo 'TUNE_RESULT {"loss": 1}'`, nil))
	startExecRunner(e, 1)
	tr := onlyTrial(t, e, "stranger")
	real, _ := filepath.EvalSymlinks(touch)
	for _, want := range []string{`exec program "touch" (` + real + `) is not allowed on this runner`, "--allow-exec " + real, "TUNE_RUNNER_ALLOW_EXEC"} {
		if tr.State != "failed" || !strings.Contains(tr.Error, want) {
			t.Errorf("trial of a command not allowed: %s %q, want failed with %q", tr.State, tr.Error, want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command that is not allowed ran")
	}
	if tr := onlyTrial(t, e, "allowed"); tr.State != "complete" {
		t.Errorf("allowed command: %s %q", tr.State, tr.Error)
	}
}

// What tune writes into a failed trial's error never holds the runner's
// environment, and commands do not get the runner's own TUNE_ variables
// (its token).
func TestErrorsHoldNoRunnerEnvironment(t *testing.T) {
	const secret = "s3cr3t-token-value-4242"
	t.Setenv("TUNE_TOKEN", secret)
	t.Setenv("RUNNER_CANARY", "canary-value-9191")
	e := runnertest.New(t)
	cases := []struct {
		name, script string
		options      map[string]any
		want         string
	}{
		{name: "token", script: `echo "token=[$TUNE_TOKEN] canary=[${RUNNER_CANARY:+set}]" >&2; exit 1`, want: "token=[] canary=[set]"},
		{name: "bad-dir", script: `true`, options: map[string]any{"dir": "/no/such/dir"}, want: "starting sh"},
		{name: "missing-program", script: `true`, options: map[string]any{"command": []string{"/no/such/program", "--flag"}}, want: "starting /no/such/program"},
		{name: "timeout", script: `exec sleep 60`, options: map[string]any{"timeout_seconds": 0.2}, want: "timed out"},
		{name: "signal", script: `kill -9 $$`, want: "killed by signal 9"},
	}
	for _, tc := range cases {
		s := execStudy(tc.name, tc.script, nil)
		opts := s["workload"].(map[string]any)["options"].(map[string]any)
		for k, v := range tc.options {
			opts[k] = v
		}
		e.CreateStudy(s)
	}
	startExecRunner(e, len(cases))
	for _, tc := range cases {
		tr := onlyTrial(t, e, tc.name)
		if tr.State != "failed" || !strings.Contains(tr.Error, tc.want) {
			t.Errorf("%s: %s %q, want failed with %q", tc.name, tr.State, tr.Error, tc.want)
		}
		if strings.Contains(tr.Error, secret) || strings.Contains(tr.Error, "canary-value") || strings.Contains(tr.Error, "PATH=") {
			t.Errorf("%s: error holds the runner's environment: %q", tc.name, tr.Error)
		}
	}
}

// NUL bytes and invalid UTF-8 on stderr and in metric names reach the
// service replaced, so the trial's result is recorded (on Postgres, which
// refuses both).
func TestOutputIsSanitisedBeforeItIsTold(t *testing.T) {
	e := runnertest.New(t)
	long := strings.Repeat("m", 300)
	e.CreateStudy(execStudy("stderr", `printf 'bad\000byte \377\376 here\n' >&2; printf 'second\000line\n' >&2; exit 2`, nil))
	e.CreateStudy(execStudy("metrics", `printf 'noise\000\377\n' >&2
printf 'TUNE_REPORT {"loss": 0.7, "re\\u0000port": 1, "in\377valid": 2}\n'
printf 'TUNE_RESULT {"loss": 0.5, "na\\u0000me": 1, "bad\377name": 2, "`+long+`": 3}\n'`, nil))
	startExecRunner(e, 2)

	tr := onlyTrial(t, e, "stderr")
	if tr.State != "failed" || !strings.Contains(tr.Error, "bad\uFFFDbyte \uFFFD here\nsecond\uFFFDline") {
		t.Errorf("stderr with NUL and invalid UTF-8: %s %q", tr.State, tr.Error)
	}
	if strings.Contains(tr.Error, "\x00") || !utf8.ValidString(tr.Error) {
		t.Errorf("error told as is: %q", tr.Error)
	}

	tr = onlyTrial(t, e, "metrics")
	if tr.State != "complete" || tr.Value == nil || *tr.Value != 0.5 {
		t.Fatalf("metric names with NUL and invalid UTF-8: %s %q, value %v", tr.State, tr.Error, tr.Value)
	}
	for name, v := range map[string]float64{"na\uFFFDme": 1, "bad\uFFFDname": 2, long[:100]: 3} {
		if got, ok := tr.Metrics[name]; !ok || got != v {
			t.Errorf("metric %q = %v (%v), want %v; metrics %v", name, got, ok, v, tr.Metrics)
		}
	}
	if len(tr.IntermediateValues) != 1 || tr.IntermediateValues[0].Metrics == nil ||
		(*tr.IntermediateValues[0].Metrics)["re\uFFFDport"] != 1 || (*tr.IntermediateValues[0].Metrics)["in\uFFFDvalid"] != 2 {
		t.Errorf("report = %+v, want its metric names cleaned", tr.IntermediateValues)
	}
}

// helperRunnerURL, when set, makes TestHelperRunnerProcess a runner
// process for TestSIGKILLedRunnerTakesItsCommandAlong to kill.
const helperRunnerURL = "TUNE_TEST_HELPER_RUNNER_URL"

func TestHelperRunnerProcess(t *testing.T) {
	url := os.Getenv(helperRunnerURL)
	if url == "" {
		t.Skip("a helper process for TestSIGKILLedRunnerTakesItsCommandAlong")
	}
	r, err := runner.New(runner.Config{Server: url, ID: "doomed", WaitSeconds: 1, Workloads: []workload.Workload{execWorkload(t)}})
	if err != nil {
		t.Fatal(err)
	}
	r.Run(context.Background()) // until SIGKILL
}

// A runner killed with SIGKILL takes its command along, so that the
// trial's retry elsewhere never runs beside a ghost.
func TestSIGKILLedRunnerTakesItsCommandAlong(t *testing.T) {
	e := runnertest.New(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := execStudy("ghost", `echo $$ > "$PID_FILE.tmp" && mv "$PID_FILE.tmp" "$PID_FILE" && exec sleep 300`, nil)
	s["workload"].(map[string]any)["options"].(map[string]any)["env"] = map[string]any{"PID_FILE": pidFile}
	e.CreateStudy(s)

	var out bytes.Buffer
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperRunnerProcess$", "-test.v")
	helper.Env = append(os.Environ(), helperRunnerURL+"="+e.URL)
	helper.Stdout, helper.Stderr = &out, &out
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		helper.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		helper.Process.Kill()
		<-exited
	})

	var pid int
	e.Wait(60*time.Second, "the command to start", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if !runnertest.Alive(pid) {
		t.Fatalf("command %d is not running; runner output:\n%s", pid, out.String())
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	e.Wait(30*time.Second, "the command of the killed runner to die", func() bool { return !runnertest.Alive(pid) })
}
