package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tune-dev/tune/openapi"
)

const goodProfile = `{"wall_seconds": 10, "phases": {"data": 1, "forward": 2, "backward": 2, "optimizer": 4.5, "eval": 0.5},
	"heap_peak_bytes": 1048576, "rss_peak_bytes": 2097152, "device_bytes": 4096, "device_peak_bytes": 8192,
	"matmul_flops": 4e9, "matmul_seconds": 2, "peak_flops": 1e10}`

// TestReportedProfiles: a report's profile is kept with its step and
// returned per step by the trial and list endpoints, with the trial's
// bottleneck reading; a trial without profiles has neither.
func TestReportedProfiles(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		tr := e.ask("s")
		reportPath := fmt.Sprintf("/api/v1/trials/%d/report", tr.Id)
		e.mustDo("POST", reportPath, `{"step": 0, "value": 0.5, "profile": `+goodProfile+`}`, http.StatusOK, nil)
		e.mustDo("POST", reportPath, `{"step": 1, "value": 0.6}`, http.StatusOK, nil)
		e.mustDo("POST", reportPath, `{"step": 2, "value": 0.7, "metrics": {"samples_per_second": 900}, "profile": {"wall_seconds": 2, "phases": {"forward": 1.5}}}`, http.StatusOK, nil)

		var want openapi.Profile
		if err := json.Unmarshal([]byte(goodProfile), &want); err != nil {
			t.Fatal(err)
		}
		check := func(where string, got openapi.Trial) {
			t.Helper()
			if len(got.IntermediateValues) != 3 {
				t.Fatalf("%s: %d intermediate values, want 3", where, len(got.IntermediateValues))
			}
			if diff := cmp.Diff(&want, got.IntermediateValues[0].Profile); diff != "" {
				t.Errorf("%s: step 0's profile (-want +got):\n%s", where, diff)
			}
			if p := got.IntermediateValues[1].Profile; p != nil {
				t.Errorf("%s: step 1 reported no profile but has %+v", where, *p)
			}
			if p := got.IntermediateValues[2].Profile; p == nil || p.WallSeconds != 2 || (*p.Phases)["forward"] != 1.5 || p.HeapPeakBytes != nil {
				t.Errorf("%s: step 2's profile = %+v, want wall 2 s, forward 1.5 s and no memory figures", where, p)
			}
			// Summed over steps 0 and 2: the optimizer 4.5 of 12 s, forward 3.5.
			const reading = "38% of the epoch is the optimizer step (precision "
			if got.Bottleneck == nil || !strings.HasPrefix(*got.Bottleneck, reading) {
				t.Errorf("%s: bottleneck = %v, want it to start %q", where, deref(got.Bottleneck), reading)
			}
		}
		var got openapi.Trial
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", tr.Id), "", http.StatusOK, &got)
		check("GET /trials", got)
		var page openapi.TrialPage
		e.mustDo("GET", "/api/v1/studies/s/trials", "", http.StatusOK, &page)
		check("GET /studies/s/trials", page.Items[0])
		check("tell", e.tell(tr.Id, `{"state": "complete", "value": 0.7}`, http.StatusOK))

		plain := e.ask("s")
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/report", plain.Id), `{"step": 0, "value": 0.5}`, http.StatusOK, nil)
		var raw map[string]any
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", plain.Id), "", http.StatusOK, &raw)
		if _, ok := raw["bottleneck"]; ok {
			t.Errorf("a trial without profiles has a bottleneck: %v", raw["bottleneck"])
		}
		if ivs := raw["intermediate_values"].([]any); len(ivs) != 1 || ivs[0].(map[string]any)["profile"] != nil {
			t.Errorf("a step without a profile shows one: %v", ivs)
		}
	})
}

// TestBadProfiles: every bad profile is refused with a problem that says
// what is wrong, whether reported or recorded, and nothing is stored.
func TestBadProfiles(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", "")
	tr := e.ask("s")
	phases := make([]string, 33)
	for i := range phases {
		phases[i] = fmt.Sprintf(`"p%d": 0.01`, i)
	}
	for _, tc := range []struct {
		name, profile string
		status        int
		detail        string
	}{
		{"negative wall", `{"wall_seconds": -1}`, 422, "wall_seconds must be a finite number >= 0"},
		{"negative phase", `{"wall_seconds": 1, "phases": {"data": -0.5}}`, 422, `phase "data" must be a finite number of seconds >= 0`},
		{"phases over wall", `{"wall_seconds": 1, "phases": {"forward": 0.6, "backward": 0.6}}`, 422, "add up to 1.2 s, more than the step's wall_seconds 1 s"},
		{"upper-case phase", `{"wall_seconds": 1, "phases": {"Forward": 0.5}}`, 422, `phase name "Forward" must be 1 to 64 lower-case`},
		{"65-char phase", `{"wall_seconds": 1, "phases": {"` + strings.Repeat("x", 65) + `": 0.5}}`, 422, "1 to 64"},
		{"too many phases", `{"wall_seconds": 10, "phases": {` + strings.Join(phases, ",") + `}}`, 422, "33 phases; at most 32"},
		{"negative heap", `{"wall_seconds": 1, "heap_peak_bytes": -1}`, 422, "heap_peak_bytes must be >= 0"},
		{"negative rss", `{"wall_seconds": 1, "rss_peak_bytes": -1}`, 422, "rss_peak_bytes must be >= 0"},
		{"negative flops", `{"wall_seconds": 1, "matmul_flops": -1e9}`, 422, "matmul_flops must be a finite number >= 0"},
		{"negative peak", `{"wall_seconds": 1, "peak_flops": -1}`, 422, "peak_flops"},
		// Shapes the request validator refuses before the domain sees them.
		{"no wall time", `{"phases": {"data": 1}}`, 400, "wall_seconds"},
		{"phase not a number", `{"wall_seconds": 1, "phases": {"data": "fast"}}`, 400, "phases"},
		{"fractional bytes", `{"wall_seconds": 1, "heap_peak_bytes": 1.5}`, 400, "heap_peak_bytes"},
		{"profile not an object", `[1, 2]`, 400, "profile"},
		{"overflowing number", `{"wall_seconds": 1e999}`, 400, ""},
	} {
		var p openapi.Problem
		status := e.do("POST", fmt.Sprintf("/api/v1/trials/%d/report", tr.Id), `{"step": 0, "value": 0.5, "profile": `+tc.profile+`}`, &p)
		if status != tc.status || !strings.Contains(deref(p.Detail), tc.detail) {
			t.Errorf("report, %s: %d %q; want %d with %q", tc.name, status, deref(p.Detail), tc.status, tc.detail)
		}
		record := `{"state": "complete", "value": 0.5, "params": {"learning_rate": 0.01, "batch_size": 32, "activation": "relu", "precision": "float32", "workers": 1},
			"intermediate_values": [{"step": 0, "value": 0.4}, {"step": 1, "value": 0.5, "profile": ` + tc.profile + `}]}`
		p = openapi.Problem{}
		status = e.do("POST", "/api/v1/studies/s/trials", record, &p)
		if status != tc.status || !strings.Contains(deref(p.Detail), tc.detail) {
			t.Errorf("record, %s: %d %q; want %d with %q", tc.name, status, deref(p.Detail), tc.status, tc.detail)
		}
		if tc.status == 422 && !strings.Contains(deref(p.Detail), "step 1") {
			t.Errorf("record, %s: %q does not name the step", tc.name, deref(p.Detail))
		}
	}
	var got openapi.Trial
	e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", tr.Id), "", http.StatusOK, &got)
	if len(got.IntermediateValues) != 0 {
		t.Errorf("refused reports stored %+v", got.IntermediateValues)
	}
	var page openapi.TrialPage
	e.mustDo("GET", "/api/v1/studies/s/trials", "", http.StatusOK, &page)
	if len(page.Items) != 1 {
		t.Errorf("refused records stored trials: %d in the study, want 1", len(page.Items))
	}
}

// TestRecordedProfiles: a finished trial recorded with profiles (as an
// import does) returns them per step.
func TestRecordedProfiles(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		var got openapi.Trial
		e.mustDo("POST", "/api/v1/studies/s/trials", `{"state": "complete", "value": 0.5,
			"params": {"learning_rate": 0.01, "batch_size": 32, "activation": "relu", "precision": "float64", "workers": 2},
			"intermediate_values": [{"step": 0, "value": 0.5, "profile": `+goodProfile+`}]}`, http.StatusCreated, &got)
		var want openapi.Profile
		if err := json.Unmarshal([]byte(goodProfile), &want); err != nil {
			t.Fatal(err)
		}
		if len(got.IntermediateValues) != 1 {
			t.Fatalf("intermediate values = %+v", got.IntermediateValues)
		}
		if diff := cmp.Diff(&want, got.IntermediateValues[0].Profile); diff != "" {
			t.Errorf("recorded profile (-want +got):\n%s", diff)
		}
		const reading = "45% of the epoch is the optimizer step (precision float64); matrix products reach 20% of peak, 80% of the time is outside them"
		if deref(got.Bottleneck) != reading {
			t.Errorf("bottleneck = %q, want %q", deref(got.Bottleneck), reading)
		}
	})
}
