package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

// TestTrialShowProfile: `tune trial show` prints each profiled step's
// phases, memory and matrix-product rate as a table and the trial's
// bottleneck reading; a trial without profiles prints neither.
func TestTrialShowProfile(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}
	api, err := openapi.NewClientWithResponses(c.server + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.ok("study", "create", "-f", writeFile(t, "study.yaml", studyYAML))

	var tr openapi.Trial
	c.json(&tr, "ask", "mnist-yaml")
	report := func(id int64, step int, p *openapi.Profile) {
		t.Helper()
		rsp, err := api.ReportWithResponse(ctx, id, openapi.ReportRequest{Step: step, Value: 0.9, Profile: p})
		if err != nil || rsp.StatusCode() != 200 {
			t.Fatalf("report: %v %s", err, rsp.Body)
		}
	}
	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	report(tr.Id, 0, &openapi.Profile{
		WallSeconds:   10,
		Phases:        &map[string]float64{"optimizer": 6.2, "forward": 2, "data": 1, "my_sync": 0.5},
		HeapPeakBytes: i(3 << 20), RssPeakBytes: i(5 << 30),
		MatmulFlops: f(4e9), MatmulSeconds: f(2), PeakFlops: f(1e10),
	})
	report(tr.Id, 1, nil)
	report(tr.Id, 2, &openapi.Profile{WallSeconds: 4, Phases: &map[string]float64{"forward": 1}, DevicePeakBytes: i(2048)})

	out := c.ok("trial", "show", strconv.FormatInt(tr.Id, 10))
	lines := strings.Split(out, "\n")
	header := -1
	for n, l := range lines {
		if strings.HasPrefix(l, "STEP") && strings.Contains(l, "WALL S") {
			header = n
		}
	}
	if header < 0 || header+2 >= len(lines) {
		t.Fatalf("no profile table:\n%s", out)
	}
	// The built-in phases in the order they happen, a workload's own after.
	wantFields(t, lines[header], `^STEP +WALL S +DATA S +FORWARD S +OPTIMIZER S +MY_SYNC S +HEAP PEAK +RSS PEAK +DEVICE PEAK +GFLOP/S +OF PEAK +OUTSIDE MATMUL$`)
	wantFields(t, lines[header+1], `^0 +10\.000 +1\.000 10% +2\.000 20% +6\.200 62% +0\.500 5% +3\.0 MiB +5\.0 GiB +- +2 +20% +80%$`)
	wantFields(t, lines[header+2], `^2 +4\.000 +- +1\.000 25% +- +- +- +- +2\.0 KiB +- +- +-$`)
	// Summed over both steps: 6.2 of 14 s.
	wantContains(t, "trial show", out, "Bottleneck:  44% of the epoch is the optimizer step; matrix products reach 20% of peak, 86% of the time is outside them")

	var plain openapi.Trial
	c.json(&plain, "ask", "mnist-yaml")
	report(plain.Id, 0, nil)
	out = c.ok("trial", "show", strconv.FormatInt(plain.Id, 10))
	if strings.Contains(out, "WALL S") || strings.Contains(out, "Bottleneck") {
		t.Errorf("a trial without profiles shows a profile:\n%s", out)
	}
}

func wantFields(t *testing.T, line, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(strings.TrimRight(line, " ")) {
		t.Errorf("line %q does not match %s", line, pattern)
	}
}
