package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// runWorkloads runs `tune workloads args...` without a server.
func runWorkloads(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(append([]string{"workloads"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestWorkloadsListsTheCatalogue(t *testing.T) {
	out, err := runWorkloads(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mnist-mlp:", "exec:", "momentum", "[0, 1)", "one of relu, tanh", "timeout_seconds", "(0, 31536000]", "required", "<= batch_size"} {
		if !strings.Contains(out, want) {
			t.Errorf("tune workloads lacks %q:\n%s", want, out)
		}
	}

	out, err = runWorkloads(t, "mnist-mlp", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var specs []trials.WorkloadSpec
	if err := json.Unmarshal([]byte(out), &specs); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(specs) != 1 || specs[0].Type != trials.WorkloadMNISTMLP {
		t.Fatalf("-o json for mnist-mlp: %+v", specs)
	}
	m, ok := specs[0].Param("momentum")
	if !ok || m.Max == nil || m.Max.Value != 1 || !m.Max.Exclusive || m.Min == nil || m.Min.Value != 0 || m.Min.Exclusive {
		t.Errorf("momentum in JSON = %+v", m)
	}

	out, err = runWorkloads(t, "exec", "-o", "json")
	if err != nil || !strings.Contains(out, `"params": []`) {
		t.Errorf("exec as JSON (%v):\n%s", err, out)
	}

	if _, err := runWorkloads(t, "no-such"); err == nil || !strings.Contains(err.Error(), "exec, mnist-mlp") {
		t.Errorf("an unknown workload: %v", err)
	}
}
