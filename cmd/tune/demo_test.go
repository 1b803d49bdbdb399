package main

import (
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

// TestDemo runs `tune demo` end to end on a tiny subset of MNIST, on the
// embedded store in a fresh data directory, then starts `tune serve` on
// that directory and finds the study there.
func TestDemo(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("TUNE_DATABASE_URL", "")
	c := cli{t: t}
	out, stderr, err := c.run(nil, "demo", "--trials", "3", "--train-samples", "300", "--test-samples", "100",
		"--epochs", "2", "--hidden-units", "16", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tune demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	wantContains(t, "demo output", out,
		"study mnist-demo, 3 trials", "trial 0 is the baseline",
		"The Pareto front: ", "baseline", "front", "batch_size", "learning_rate", "activation", "precision", "workers",
		"val_accuracy", "samples/s", "seconds/epoch",
		"The study is kept in "+dataDir, "tune serve --data-dir "+dataDir, "open the dashboard at http://127.0.0.1:8080/studies/mnist-demo")
	wantContains(t, "demo progress", stderr, "trial  0 ", "trial  1 ", "trial  2 ", "3/3 trials")

	// A second demo on the same store keeps the first study.
	out, _, err = c.run(nil, "demo", "--trials", "2", "--train-samples", "300", "--test-samples", "100",
		"--epochs", "1", "--hidden-units", "16", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("second tune demo: %v", err)
	}
	wantContains(t, "second demo", out, "study mnist-demo-2, 2 trials")

	url, _ := startServe(t, "--data-dir", dataDir)
	srv := cli{t: t, server: url}
	var study openapi.Study
	srv.json(&study, "study", "show", "mnist-demo")
	if study.State != openapi.StudyStateDone || study.Counts.Complete+study.Counts.Pruned+study.Counts.Failed != 3 ||
		study.Objectives == nil || len(*study.Objectives) != 2 {
		t.Errorf("the demo's study after tune serve = %+v", study)
	}
	var page openapi.TrialPage
	srv.json(&page, "trial", "list", "mnist-demo")
	if len(page.Items) != 3 || page.Items[0].Params["batch_size"] != 128.0 || page.Items[0].Params["activation"] != "relu" {
		t.Errorf("trial 0 is not the baseline: %+v", page.Items)
	}
	for _, tr := range page.Items {
		if tr.State == openapi.TrialStateComplete && (tr.Metrics["samples_per_second"] <= 0 || len(tr.IntermediateValues) != 2) {
			t.Errorf("trial %d: %d intermediate values, metrics %v", tr.Number, len(tr.IntermediateValues), tr.Metrics)
		}
	}
	wantContains(t, "study list", srv.ok("study", "list"), "mnist-demo", "mnist-demo-2")
}

func TestDemoFlagErrors(t *testing.T) {
	c := cli{t: t}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trials", "1"}, "--trials must be at least 2"},
		{[]string{"--runners", "0"}, "--runners must be at least 1"},
		{[]string{"--train-samples", "70000"}, "--train-samples must be between 100 and 60000"},
		{[]string{"--epochs", "0"}, "--epochs must be at least 1"},
	} {
		msg := c.fails(append([]string{"demo", "--data-dir", t.TempDir()}, tc.args...)...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("demo %v: %q, want %q", tc.args, msg, tc.want)
		}
	}
}

func TestDemoFront(t *testing.T) {
	trial := func(id int64, state openapi.TrialState, value, speed, epoch float64, batch int) openapi.Trial {
		tr := openapi.Trial{Id: id, Number: int(id), State: state,
			Params:  map[string]any{"batch_size": float64(batch), "learning_rate": 0.001, "activation": "relu", "precision": "float32", "workers": 1.0},
			Metrics: openapi.Metrics{"val_accuracy": value, "samples_per_second": speed, "seconds_per_epoch": epoch}}
		if state == openapi.TrialStateComplete {
			tr.Value = &value
		}
		return tr
	}
	base := trial(0, openapi.TrialStateComplete, 0.95, 40000, 1.0, 128)
	front := []openapi.Trial{
		trial(1, openapi.TrialStateComplete, 0.972, 20000, 2.0, 32),
		trial(2, openapi.TrialStateComplete, 0.968, 80000, 0.5, 512),
	}
	var b strings.Builder
	writeDemoFront(&b, &base, front)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("the table has %d lines, want a header, the baseline and two front rows:\n%s", len(lines), b.String())
	}
	wantContains(t, "header", lines[0], "trial", "val_accuracy", "samples/s", "seconds/epoch", "batch_size", "workers")
	wantContains(t, "baseline row", lines[1], "baseline", "95.00%", "40,000", "1.00 s", "128")
	wantContains(t, "first front row", lines[2], "front", "97.20% (+2.20 points)", "20,000 (2.0× slower)", "2.00 s (2.0× more)", "32")
	wantContains(t, "second front row", lines[3], "front", "96.80% (+1.80 points)", "80,000 (2.0× faster)", "0.50 s (2.0× less)", "512")

	// A baseline that was pruned shows its last report.
	pruned := trial(0, openapi.TrialStatePruned, 0, 0, 0, 128)
	pruned.Metrics = openapi.Metrics{}
	pruned.IntermediateValues = []openapi.IntermediateValue{{Step: 0, Value: 0.9, Metrics: &openapi.Metrics{"val_accuracy": 0.9, "samples_per_second": 1000}}}
	b.Reset()
	writeDemoFront(&b, &pruned, front[:1])
	wantContains(t, "pruned baseline", b.String(), "90.00%", "1,000", "—", "97.20% (+7.20 points)", "20,000 (20.0× faster)")
}
