package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tune-dev/tune/openapi"
)

func TestStudyExportImport(t *testing.T) {
	t.Parallel()
	from := cli{t: t, server: startServer(t)}
	to := cli{t: t, server: startServer(t)}
	ctx := context.Background()
	api, err := openapi.NewClientWithResponses(from.server + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}

	from.ok("study", "create", "-f", writeFile(t, "study.yaml", studyYAML))
	// Every kind of trial: complete with a learning curve, pruned, failed,
	// waiting (enqueued) and running (asked, never told).
	for i, end := range []string{"complete", "pruned", "failed"} {
		var tr openapi.Trial
		from.json(&tr, "ask", "mnist-yaml")
		for step := range 3 {
			metrics := openapi.Metrics{"samples_per_second": float64(1000 + step)}
			// Each step's profile travels with it (matmul figures on one).
			profile := &openapi.Profile{WallSeconds: 2 + float64(step), Phases: &map[string]float64{"forward": 1, "optimizer": 0.25 + float64(i)/4}}
			if step == 1 {
				flops, secs, heap := 3e9, 0.75, int64(1<<20+step)
				profile.MatmulFlops, profile.MatmulSeconds, profile.HeapPeakBytes = &flops, &secs, &heap
			}
			rsp, err := api.ReportWithResponse(ctx, tr.Id, openapi.ReportRequest{Step: step, Value: 0.5 + float64(step+i)/10, Metrics: &metrics, Profile: profile})
			if err != nil || rsp.StatusCode() != 200 {
				t.Fatalf("report: %v %s", err, rsp.Body)
			}
		}
		switch end {
		case "complete":
			from.ok("tell", strconv.FormatInt(tr.Id, 10), "--value", "0.93", "--metric", "val_loss=0.2")
		case "pruned":
			from.ok("tell", strconv.FormatInt(tr.Id, 10), "--state", "pruned")
		case "failed":
			from.ok("tell", strconv.FormatInt(tr.Id, 10), "--state", "failed", "--error", "loss diverged")
		}
	}
	var running openapi.Trial
	from.json(&running, "ask", "mnist-yaml")
	from.ok("enqueue", "mnist-yaml", "-p", "batch_size=64", "-p", "learning_rate=0.01", "-p", "activation=tanh", "-p", "workers=2")
	from.ok("study", "pause", "mnist-yaml")

	path := filepath.Join(t.TempDir(), "export.json")
	_, stderr, err := from.run(nil, "study", "export", "mnist-yaml", "-f", path)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	wantContains(t, "export message", stderr, "exported study mnist-yaml (5 trials)")
	var exp studyExport
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("the export is not JSON: %v", err)
	}
	if exp.Format != exportFormat || len(exp.Trials) != 5 || exp.State != openapi.StudyStatePaused {
		t.Fatalf("export = format %d, %d trials, state %s", exp.Format, len(exp.Trials), exp.State)
	}
	if p := exp.Trials[0].IntermediateValues[1].Profile; p == nil || p.MatmulFlops == nil || *p.MatmulFlops != 3e9 {
		t.Errorf("exported step 1 of trial 0 has profile %+v, want its matmul figures", p)
	}

	out, stderr, err := to.run(nil, "study", "import", "-f", path)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	wantContains(t, "import output", out, "mnist-yaml", "paused")
	wantContains(t, "import progress", stderr, "imported 5 trials")

	var orig, copied trialListing
	for _, c := range []struct {
		cli cli
		dst *trialListing
	}{{from, &orig}, {to, &copied}} {
		var page openapi.TrialPage
		c.cli.json(&page, "trial", "list", "mnist-yaml", "--all")
		c.dst.trials = page.Items
	}
	// Finished trials come back as they were, origin included; waiting and
	// running ones wait again with their params, enqueued by the import.
	if len(copied.trials) != len(orig.trials) {
		t.Fatalf("imported %d trials, exported %d", len(copied.trials), len(orig.trials))
	}
	want := orig.trials
	for i := range want {
		if want[i].State == openapi.TrialStateWaiting || want[i].State == openapi.TrialStateRunning {
			want[i] = openapi.Trial{Number: want[i].Number, State: openapi.TrialStateWaiting, Params: want[i].Params,
				Metrics: openapi.Metrics{}, IntermediateValues: []openapi.IntermediateValue{},
				CreatedAt: copied.trials[i].CreatedAt, Origin: "enqueued"}
		} else if want[i].Origin != "startup" {
			t.Errorf("exported trial #%d: origin %q, want startup (TPE's first trials)", want[i].Number, want[i].Origin)
		}
	}
	ignore := cmpopts.IgnoreFields(openapi.Trial{}, "Id", "StudyId", "Lease", "LeaseExpiresAt")
	if diff := cmp.Diff(want, copied.trials, ignore); diff != "" {
		t.Errorf("imported trials (-exported +imported):\n%s", diff)
	}
	var best openapi.Trial
	to.json(&best, "study", "best", "mnist-yaml")
	if best.Value == nil || *best.Value != 0.93 {
		t.Errorf("best of the imported study = %+v", best)
	}

	// The name is taken now; --name imports a copy.
	msg := to.fails("study", "import", "-f", path)
	wantContains(t, "second import", msg, "409", "--name")
	to.ok("study", "import", "-f", path, "--name", "mnist-copy")
	to.ok("study", "show", "mnist-copy")

	for _, bad := range []struct{ content, want string }{
		{`{"name": "x"}`, "not a tune export file"},
		{`{"tune_export": 99, "study": {"name": "x"}}`, "newer than this tune reads"},
		{`[1, 2]`, "not a tune export file"},
	} {
		msg := to.fails("study", "import", "-f", writeFile(t, "bad.json", bad.content))
		wantContains(t, "bad export", msg, bad.want)
	}
	msg = to.fails("study", "import", "-f", filepath.Join(t.TempDir(), "missing.json"))
	wantContains(t, "missing file", msg, "no such file")
	msg = to.fails("study", "export", "nope")
	wantContains(t, "export of an unknown study", msg, `study "nope" not found (404)`)
}
