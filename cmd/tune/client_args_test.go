package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseParams(t *testing.T) {
	got, err := parseParams([]string{
		"batch_size=64",
		"learning_rate=0.1",
		"tiny=1e-5",
		"amp=true",
		"activation=relu",
		`quoted="64"`,
		"empty=",
		"list=[1,2]",
		"spaced= 128 ",
		"expr=a=b",
		"big=12345678901234567890",
		"trailing=64 junk",
	})
	if err != nil {
		t.Fatal(err)
	}
	// What matters is the JSON the server receives: integers must stay
	// integers, with their exact spelling.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"activation":"relu","amp":true,"batch_size":64,"big":12345678901234567890,` +
		`"empty":"","expr":"a=b","learning_rate":0.1,"list":[1,2],"quoted":"64",` +
		`"spaced":128,"tiny":1e-5,"trailing":"64 junk"}`
	if string(b) != want {
		t.Errorf("params as JSON:\n got %s\nwant %s", b, want)
	}
}

func TestParseParamsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"batch_size"}, `invalid --param "batch_size": want name=value`},
		{[]string{"=64"}, `invalid --param "=64": want name=value`},
		{[]string{"a=1", "a=2"}, "--param a given twice"},
	} {
		_, err := parseParams(tc.args)
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseParams(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	got, err := parseMetrics([]string{"val_loss=0.25", "throughput=1e4", "epochs=3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"val_loss": 0.25, "throughput": 1e4, "epochs": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMetrics (-want +got):\n%s", diff)
	}
	for _, args := range [][]string{{"loss"}, {"loss=abc"}, {"loss=NaN"}, {"loss=-Inf"}, {"a=1", "a=1"}} {
		if _, err := parseMetrics(args); err == nil {
			t.Errorf("parseMetrics(%q) succeeded, want an error", args)
		}
	}
}

func TestParseFinite(t *testing.T) {
	for _, s := range []string{"0", "-1.5", "1e-8", " 3 "} {
		if _, err := parseFinite(s); err != nil {
			t.Errorf("parseFinite(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "abc", "NaN", "inf", "+Inf", "1e999", "0x"} {
		if _, err := parseFinite(s); err == nil {
			t.Errorf("parseFinite(%q) succeeded, want an error", s)
		}
	}
}

func TestParseTrialID(t *testing.T) {
	if id, err := parseTrialID("42"); err != nil || id != 42 {
		t.Errorf("parseTrialID(42) = %d, %v", id, err)
	}
	for _, s := range []string{"", "abc", "0", "-3", "1.5"} {
		if _, err := parseTrialID(s); err == nil || !strings.Contains(err.Error(), "invalid trial id") {
			t.Errorf("parseTrialID(%q) = %v, want an invalid trial id error", s, err)
		}
	}
}

func TestResolveServer(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		changed bool
		env     string
		want    string
	}{
		{defaultServer, false, "", defaultServer},
		{defaultServer, false, "http://tune:9000", "http://tune:9000"},
		{"http://flag:1", true, "http://env:2", "http://flag:1"},
		{"tune.internal:8080", true, "", "http://tune.internal:8080"},
		{"https://tune.example.com/", true, "", "https://tune.example.com"},
		{"http://host:8080/api/v1/", true, "", "http://host:8080"},
	} {
		got, err := resolveServer(tc.flag, tc.changed, tc.env)
		if err != nil || got != tc.want {
			t.Errorf("resolveServer(%q, %v, %q) = %q, %v; want %q", tc.flag, tc.changed, tc.env, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://host", "http://"} {
		if got, err := resolveServer(bad, true, ""); err == nil {
			t.Errorf("resolveServer(%q) = %q, want an error", bad, got)
		}
	}
}
