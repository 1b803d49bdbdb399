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
		"baseline (trial 0)", "best (trial ", "batch_size", "learning_rate", "activation", "precision", "workers",
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
		study.BestValue == nil {
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

func TestDemoSummary(t *testing.T) {
	trial := func(id int64, state openapi.TrialState, value, speed, epoch float64, batch int) openapi.Trial {
		tr := openapi.Trial{Id: id, Number: int(id), State: state,
			Params:  map[string]any{"batch_size": float64(batch), "learning_rate": 0.001, "activation": "relu", "precision": "float32", "workers": 1.0},
			Metrics: openapi.Metrics{"val_accuracy": value, "samples_per_second": speed, "seconds_per_epoch": epoch}}
		if state == openapi.TrialStateComplete {
			tr.Value = &value
		}
		return tr
	}
	ts := []openapi.Trial{
		trial(0, openapi.TrialStateComplete, 0.95, 40000, 1.0, 128),
		trial(1, openapi.TrialStateComplete, 0.972, 20000, 2.0, 32),
		trial(2, openapi.TrialStateComplete, 0.968, 80000, 0.5, 512), // within half a point, fastest
		trial(3, openapi.TrialStateComplete, 0.96, 90000, 0.4, 1024), // faster, but a point behind
		trial(4, openapi.TrialStatePruned, 0.99, 99000, 0.3, 64),     // pruned trials never count
	}
	best, fastest := bestAndFastest(ts)
	if best == nil || best.Id != 1 || fastest == nil || fastest.Id != 2 {
		t.Fatalf("best, fastest = %v, %v; want trials 1 and 2", best, fastest)
	}
	var b strings.Builder
	writeComparison(&b, []demoColumn{{"baseline (trial 0)", &ts[0]}, {"best (trial 1)", best}, {"fastest within 0.5 points (trial 2)", fastest}})
	wantContains(t, "comparison", b.String(),
		"baseline (trial 0)", "best (trial 1)", "fastest within 0.5 points (trial 2)",
		"95.00%", "97.20% (+2.20 points)", "96.80% (+1.80 points)",
		"20,000 (2.0× slower)", "80,000 (2.0× faster)", "0.50 s (2.0× less time)")
	if best, fastest := bestAndFastest(ts[4:]); best != nil || fastest != nil {
		t.Errorf("with no complete trial: %v, %v", best, fastest)
	}
}
