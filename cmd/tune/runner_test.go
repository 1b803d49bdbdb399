package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
)

func TestRunnerFlagErrors(t *testing.T) {
	c := cli{t: t, server: "http://127.0.0.1:1"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"runner", "--workloads", "exec,pytorch"}, `--workloads: unknown workload "pytorch"; this runner offers exec, mnist-mlp`},
		{[]string{"runner", "--workloads", ","}, "--workloads is empty"},
		{[]string{"runner", "--device", "tpu:0"}, "--device tpu:0: want cpu or cuda:N"},
		{[]string{"runner", "--parallel", "0"}, "--parallel must be at least 1, got 0"},
		{[]string{"runner", "--lease-wait", "0"}, "--lease-wait must be between 1 and 60 seconds, got 0"},
		{[]string{"runner", "--lease-wait", "61"}, "--lease-wait must be between 1 and 60 seconds, got 61"},
		{[]string{"runner", "--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"runner", "--log-level", "loud"}, "--log-level must be debug, info, warn or error"},
		{[]string{"runner", "extra"}, `unknown command "extra"`},
		{[]string{"runner", "--workloads", "exec"}, "--workloads exec: this runner runs no commands until told which; add --allow-exec"},
		{[]string{"runner", "--workloads", "mnist-mlp,exec"}, "(env TUNE_RUNNER_ALLOW_EXEC)"},
		{[]string{"runner", "--allow-exec", "/no/such/dir/"}, `--allow-exec: exec allow-list entry "/no/such/dir/": cannot resolve it`},
		{[]string{"runner", "--allow-exec", "no-such-program-tune"}, `--allow-exec: exec allow-list entry "no-such-program-tune": exec: "no-such-program-tune": executable file not found`},
	}
	if !runner.CUDA {
		cases = append(cases, struct {
			args []string
			want string
		}{[]string{"runner", "--device", "cuda:0"}, "--device cuda:0: this tune binary was built without CUDA support; rebuild with -tags tune_cuda"})
	}
	for _, tc := range cases {
		if msg := c.fails(tc.args...); !strings.Contains(msg, tc.want) {
			t.Errorf("tune %s: error %q, want %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}
	if def := newRunnerCommand().Flags().Lookup("workloads").DefValue; def != "[mnist-mlp]" {
		t.Errorf("default workloads = %s, want mnist-mlp only: exec needs --allow-exec", def)
	}
	t.Setenv("TUNE_RUNNER_ALLOW_EXEC", "/no/such/dir/")
	if msg := c.fails("runner"); !strings.Contains(msg, `--allow-exec: exec allow-list entry "/no/such/dir/"`) {
		t.Errorf("bad TUNE_RUNNER_ALLOW_EXEC: %q", msg)
	}
	t.Setenv("TUNE_RUNNER_ALLOW_EXEC", "")
	t.Setenv("TUNE_RUNNER_PARALLEL", "many")
	if msg := c.fails("runner"); !strings.Contains(msg, `TUNE_RUNNER_PARALLEL="many" is not a number`) {
		t.Errorf("bad TUNE_RUNNER_PARALLEL: %q", msg)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunnerCommandRunsTrials(t *testing.T) {
	server := startServer(t)
	study := `{"name": "cli-exec", "objective": {"metric": "loss"}, "max_trials": 3,
  "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
  "workload": {"type": "exec", "options": {"command": ["sh", "-c", "echo \"TUNE_REPORT {\\\"loss\\\": $TUNE_PARAM_X}\"; echo \"TUNE_RESULT {\\\"loss\\\": $TUNE_PARAM_X}\""]}}}`
	resp, err := http.Post(server+"/api/v1/studies", "application/json", strings.NewReader(study))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create study: %s", resp.Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand()
		cmd.SetArgs([]string{"--server", server, "runner", "--id", "cli-runner", "--workloads", "exec", "--allow-exec", "sh", "--parallel", "2", "--log-format", "json"})
		cmd.SetErr(&stderr)
		cmd.SetOut(&stderr)
		done <- cmd.ExecuteContext(ctx)
	}()

	var s openapi.Study
	deadline := time.Now().Add(60 * time.Second)
	for s.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the study did not finish: %+v\nstderr:\n%s", s, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get(server + "/api/v1/studies/cli-exec")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.Counts.Complete != 3 {
		t.Errorf("counts = %+v", s.Counts)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tune runner returned %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tune runner did not stop")
	}
	wantContains(t, "runner status line", stderr.String(),
		"tune runner cli-runner: server "+server+", workloads exec, device cpu, parallel 2, devices: cpu")
}

// TestRunnerExitsWhenIdle drains a study with --exit-when-idle: the runner
// returns by itself once no work is left, as a script or batch job needs.
func TestRunnerExitsWhenIdle(t *testing.T) {
	server := startServer(t)
	study := `{"name": "drain", "objective": {"metric": "loss"}, "max_trials": 4,
  "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
  "workload": {"type": "exec", "options": {"command": ["sh", "-c", "echo \"TUNE_RESULT {\\\"loss\\\": $TUNE_PARAM_X}\""]}}}`
	resp, err := http.Post(server+"/api/v1/studies", "application/json", strings.NewReader(study))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create study: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := newRootCommand()
	var stderr syncBuffer
	cmd.SetArgs([]string{"--server", server, "runner", "--workloads", "exec", "--allow-exec", "sh", "--parallel", "2", "--exit-when-idle", "--lease-wait", "1"})
	cmd.SetErr(&stderr)
	cmd.SetOut(&stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("tune runner --exit-when-idle: %v\n%s", err, stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("the runner only stopped at the test's deadline:\n%s", stderr.String())
	}
	var s openapi.Study
	c := cli{t: t, server: server}
	c.json(&s, "study", "show", "drain")
	if s.State != openapi.StudyStateDone || s.Counts.Complete != 4 {
		t.Errorf("after the runner exited: state %s, counts %+v", s.State, s.Counts)
	}
}
