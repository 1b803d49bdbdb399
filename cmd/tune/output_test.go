package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
)

func TestFormatParamValue(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{float64(64), "64"},
		{float64(4096), "4096"},
		{float64(-3), "-3"},
		{0.001234567, "0.00123457"},
		{1e20, "1e+20"},
		{json.Number("64"), "64"},
		{"relu", "relu"},
		{"", `""`},
		{"a b", `"a b"`},
		{"k=v", `"k=v"`},
		{true, "true"},
		{nil, "null"},
		{[]any{1.0, "a"}, `[1,"a"]`},
	} {
		if got := formatParamValue(tc.v); got != tc.want {
			t.Errorf("formatParamValue(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestFormatParams(t *testing.T) {
	got := formatParams(map[string]any{"lr": 0.001, "batch_size": float64(64), "activation": "relu"})
	if want := "activation=relu batch_size=64 lr=0.001"; got != want {
		t.Errorf("formatParams = %q, want %q", got, want)
	}
	if got := formatParams(nil); got != dash {
		t.Errorf("formatParams(nil) = %q, want %q", got, dash)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1234567 * time.Nanosecond, "1ms"},
		{1234 * time.Millisecond, "1.2s"},
		{95*time.Second + 400*time.Millisecond, "1m35s"},
		{-time.Second, dash},
	} {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(3 * time.Second)
	if got := trialDuration(&start, &end, end.Add(time.Hour)); got != "3s" {
		t.Errorf("trialDuration(finished) = %q", got)
	}
	if got := trialDuration(&start, nil, start.Add(2*time.Second)); got != "2s" {
		t.Errorf("trialDuration(running) = %q", got)
	}
	if got := trialDuration(nil, nil, end); got != dash {
		t.Errorf("trialDuration(waiting) = %q", got)
	}
}

func TestFormatDistribution(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	yes := true
	choices := []any{"relu", float64(2), true}
	for _, tc := range []struct {
		d    openapi.Distribution
		want string
	}{
		{openapi.Distribution{Type: "int", Low: f(16), High: f(512), Log: &yes}, "[16, 512] log"},
		{openapi.Distribution{Type: "float", Low: f(0), High: f(1), Step: f(0.1)}, "[0, 1] step 0.1"},
		{openapi.Distribution{Type: "float", Low: f(1e-5), High: f(0.1)}, "[1e-05, 0.1]"},
		{openapi.Distribution{Type: "categorical", Choices: &choices}, "relu, 2, true"},
	} {
		if got := formatDistribution(tc.d); got != tc.want {
			t.Errorf("formatDistribution(%s) = %q, want %q", tc.d.Type, got, tc.want)
		}
	}
}

func TestFormatConfig(t *testing.T) {
	typ, seed, warmup := "tpe", int64(42), 2
	median := "median"
	opts := map[string]any{"epochs": float64(3)}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{openapi.SamplerConfig{Type: &typ, Seed: &seed}, "tpe seed=42"},
		{openapi.SamplerConfig{}, "default"},
		{openapi.PrunerConfig{Type: &median, WarmupSteps: &warmup}, "median warmup_steps=2"},
		{&openapi.Workload{Type: "mnist-mlp", Options: &opts}, "mnist-mlp epochs=3"},
		{&openapi.Workload{Type: "exec"}, "exec"},
	} {
		if got := formatConfig(tc.v); got != tc.want {
			t.Errorf("formatConfig(%+v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestOutputFormatFlag(t *testing.T) {
	var f outputFormat
	for _, s := range []string{"json", "JSON", "table"} {
		if err := f.Set(s); err != nil {
			t.Errorf("Set(%q): %v", s, err)
		}
	}
	if err := f.Set("yaml"); err == nil {
		t.Error(`Set("yaml") succeeded`)
	}
}

func TestPrintJSON(t *testing.T) {
	var b bytes.Buffer
	if err := printJSON(&b, []byte("{\"a\":1,\"b\":[true]}\n")); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}\n"
	if b.String() != want {
		t.Errorf("printJSON = %q, want %q", b.String(), want)
	}
}

func TestAPIErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{
			&client.Error{Op: `show study "foo"`, Subject: `study "foo"`, Status: 404, Problem: true, Title: "Not Found", Detail: `no study "foo"`},
			`study "foo" not found (404): no study "foo"`,
		},
		{
			&client.Error{Op: `ask study "foo"`, Subject: `study "foo"`, Status: 409, Problem: true, Title: "Conflict", Detail: "study is\n  paused"},
			`ask study "foo": conflict (409): study is paused`,
		},
		{
			&client.Error{Op: "create study", Status: 400, Problem: true, Title: "Bad Request"},
			"create study: bad request (400)",
		},
		{
			&unreachableError{server: "http://127.0.0.1:1", cause: errors.New("connection refused")},
			"cannot reach the tune server at http://127.0.0.1:1: connection refused; start it with 'tune serve' or set --server/TUNE_SERVER",
		},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
