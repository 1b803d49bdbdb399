package mnist

import (
	"math"
	"reflect"
	"testing"

	"gorgonia.org/tensor"
)

// TestGradAccumulationTrainsLikeTheLargerBatch: four batches of 32 with
// grad_accumulation 4 take one optimizer step on the mean of their
// gradients, which is the gradient of the batch of 128 they make up: the
// weights after the step are those of one step on batch 128 (the same
// seed draws the same initial weights and the same order).
func TestGradAccumulationTrainsLikeTheLargerBatch(t *testing.T) {
	cfg0, err := ConfigFor(small(map[string]any{"train_samples": 512}), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		precision, optimizer string
		workers              int
		tol                  float64
	}{
		{"float64", "sgd", 1, 1e-12},
		{"float64", "momentum", 2, 1e-12},
		{"float32", "sgd", 1, 1e-6},
	} {
		weights := func(batch, k int) ([]float64, int) {
			cfg := cfg0
			cfg.Precision, cfg.Optimizer, cfg.Workers = c.precision, c.optimizer, c.workers
			cfg.BatchSize, cfg.GradAccumulation, cfg.LearningRate = batch, k, 0.1
			tr, err := newTrainer(cfg, data, 5)
			if err != nil {
				t.Fatal(err)
			}
			tr.shuffle()
			for s := range k {
				if _, err := tr.step(tr.perm[s*batch : (s+1)*batch]); err != nil {
					t.Fatal(err)
				}
			}
			return flatValues(tr.replicas[0].values()), tr.optSteps
		}
		big, bigSteps := weights(128, 1)
		acc, accSteps := weights(32, 4)
		if bigSteps != 1 || accSteps != 1 {
			t.Fatalf("optimizer steps: %d for batch 128, %d for 4×32 accumulated", bigSteps, accSteps)
		}
		plain, _ := weights(32, 1) // four steps of 32: not the same
		var worst, plainDiff float64
		for i := range big {
			worst = max(worst, math.Abs(big[i]-acc[i]))
			plainDiff = max(plainDiff, math.Abs(big[i]-plain[i]))
		}
		t.Logf("%s %s workers=%d: accumulated vs batch 128: %g; four plain steps vs batch 128: %g", c.precision, c.optimizer, c.workers, worst, plainDiff)
		if worst > c.tol {
			t.Errorf("%s %s workers=%d: accumulated weights differ from batch 128's by %g", c.precision, c.optimizer, c.workers, worst)
		}
		if plainDiff < 1e-4 {
			t.Errorf("%s: four plain steps of 32 match one of 128 (%g): the comparison proves nothing", c.precision, plainDiff)
		}
	}
}

// TestGradAccumulationFlushesAtEpochEnd: 5 batches with k=2 take three
// optimizer steps, the last on one batch.
func TestGradAccumulationFlushesAtEpochEnd(t *testing.T) {
	tr, cfg, _ := smallTrainer(t, map[string]any{"train_samples": 160, "batch_size": 32, "grad_accumulation": 2})
	tr.shuffle()
	for s := range tr.stepsPerEpoch() {
		if _, err := tr.step(tr.perm[s*32 : (s+1)*32]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.flush(); err != nil {
		t.Fatal(err)
	}
	if tr.optSteps != 3 || tr.pending != 0 {
		t.Errorf("%d optimizer steps, %d pending; want 3 and 0", tr.optSteps, tr.pending)
	}
	if tr.totalSteps != 3*cfg.Epochs {
		t.Errorf("totalSteps %d, want %d", tr.totalSteps, 3*cfg.Epochs)
	}
}

func flatValues(vs []*tensor.Dense) []float64 {
	var out []float64
	for _, v := range vs {
		switch d := v.Data().(type) {
		case []float32:
			for _, x := range d {
				out = append(out, float64(x))
			}
		case []float64:
			out = append(out, d...)
		}
	}
	return out
}

func TestScheduledLR(t *testing.T) {
	const base = 0.1
	for _, c := range []struct {
		kind                string
		warmup, total, step int
		want                float64
	}{
		{"constant", 0, 100, 0, base},
		{"constant", 0, 100, 99, base},
		{"constant", 10, 100, 0, base / 10},
		{"constant", 10, 100, 4, base / 2},
		{"constant", 10, 100, 9, base},
		{"constant", 10, 100, 50, base},
		{"cosine", 0, 100, 0, base},
		{"cosine", 0, 100, 50, base / 2},
		{"cosine", 0, 100, 100, 0},
		{"cosine", 20, 120, 20, base},
		{"cosine", 20, 120, 70, base / 2},
		{"cosine", 0, 100, 25, base * (1 + math.Sqrt2/2) / 2},
		{"step", 0, 100, 49, base},
		{"step", 0, 100, 50, base / 10},
		{"step", 0, 100, 74, base / 10},
		{"step", 0, 100, 75, base / 100},
		{"step", 4, 104, 2, base * 3 / 4},
		{"step", 4, 104, 54, base / 10},
		{"cosine", 10, 10, 12, base}, // warmup as long as training: nothing left to schedule
	} {
		if got := scheduledLR(c.kind, base, c.warmup, c.total, c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s warmup %d total %d step %d: %v, want %v", c.kind, c.warmup, c.total, c.step, got, c.want)
		}
	}
}

// TestScheduleReachesTheSolver: the trainer sets the solver's rate per
// step, fused and gorgonia's solvers alike.
func TestScheduleReachesTheSolver(t *testing.T) {
	for _, impl := range []string{SolverFused, SolverGorgonia} {
		tr, _, _ := smallTrainer(t, map[string]any{"train_samples": 128, "batch_size": 32, "epochs": 1,
			"lr_schedule": "step", "solver": impl, "learning_rate": 0.5, "optimizer": "sgd"})
		tr.shuffle()
		var rates []float64
		for s := range 4 {
			if _, err := tr.step(tr.perm[s*32 : (s+1)*32]); err != nil {
				t.Fatal(err)
			}
			rates = append(rates, solverLR(t, tr))
		}
		if want := []float64{0.5, 0.5, 0.05, 0.005}; !floatsNear(rates, want, 1e-15) {
			t.Errorf("%s: rates %v, want %v", impl, rates, want)
		}
	}
}

func solverLR(t *testing.T, tr *trainer) float64 {
	t.Helper()
	if f, ok := tr.solver.(*fusedSolver); ok {
		return f.eta
	}
	// setLR wrote it; read it the same way by setting and comparing is
	// circular, so read the field through reflection.
	return reflectEta(tr.solver)
}

func floatsNear(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestClipGrads: a gradient above the bound is scaled to norm = bound,
// in its direction; one below is left alone.
func TestClipGrads(t *testing.T) {
	g32 := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{3, 0}))
	g64 := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float64{0, 4}))
	grads := []*tensor.Dense{g32, g64}
	if norm := clipGrads(grads, 1); norm != 5 {
		t.Errorf("norm before %v, want 5", norm)
	}
	if after := clipGrads(grads, 0); math.Abs(after-1) > 1e-6 {
		t.Errorf("norm after clipping to 1: %v", after)
	}
	if d := g64.Data().([]float64); math.Abs(d[1]-0.8) > 1e-12 {
		t.Errorf("direction changed: %v %v", g32.Data(), d)
	}
	if norm := clipGrads(grads, 10); math.Abs(norm-1) > 1e-6 || math.Abs(float64(g32.Data().([]float32)[0])-0.6) > 1e-6 {
		t.Errorf("a gradient under the bound changed: %v %v", g32.Data(), g64.Data())
	}
}

// TestGradClipInTraining: with a tiny bound every update of plain SGD
// moves the weights by at most learning_rate × bound (in L2 norm).
func TestGradClipInTraining(t *testing.T) {
	tr, _, _ := smallTrainer(t, map[string]any{"grad_clip": 0.01, "optimizer": "sgd", "learning_rate": 1.0, "precision": "float64"})
	tr.shuffle()
	before := flatValues(tr.replicas[0].values())
	if _, err := tr.step(tr.perm[:32]); err != nil {
		t.Fatal(err)
	}
	after := flatValues(tr.replicas[0].values())
	var sq float64
	for i := range before {
		sq += (after[i] - before[i]) * (after[i] - before[i])
	}
	if moved := math.Sqrt(sq); math.Abs(moved-0.01) > 1e-9 {
		t.Errorf("one clipped SGD step moved the weights by %v, want exactly lr × bound = 0.01", moved)
	}
}

// TestDropout: masks hold 0 or 1/(1−p) in about the proportion p, drawn
// anew per batch; the evaluation net has none; training with dropout
// still learns, and differs from training without.
func TestDropout(t *testing.T) {
	tr, _, data := smallTrainer(t, map[string]any{"dropout": 0.25, "layers": 2})
	r := tr.replicas[0]
	if len(r.masks) != 2 || len(tr.eval.masks) != 0 {
		t.Fatalf("%d training masks, %d evaluation masks; want 2 and 0", len(r.masks), len(tr.eval.masks))
	}
	r.fill(data.Train, tr.perm[:32])
	first := append([]float32(nil), r.masks[0].Data().([]float32)...)
	var zeros int
	for _, v := range first {
		switch v {
		case 0:
			zeros++
		case float32(1 / 0.75):
		default:
			t.Fatalf("mask value %v", v)
		}
	}
	if frac := float64(zeros) / float64(len(first)); frac < 0.2 || frac > 0.3 {
		t.Errorf("%.3f of units dropped, want about 0.25", frac)
	}
	r.fill(data.Train, tr.perm[:32])
	if floatsNear(f64(first), f64(r.masks[0].Data().([]float32)), 0) {
		t.Error("the mask was not redrawn for the next batch")
	}

	res, _, err := run(t, small(map[string]any{"learning_rate": 0.003, "dropout": 0.2}), nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := run(t, small(map[string]any{"learning_rate": 0.003}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if acc := res.Metrics["val_accuracy"]; acc < 0.3 {
		t.Errorf("with dropout: val_accuracy %.3f", acc)
	}
	if res.Metrics["train_loss"] == plain.Metrics["train_loss"] {
		t.Error("dropout changed nothing")
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestEvalEvery: evaluations (and so reports) after every second epoch
// and the last; each report's profile and speed figures cover the epochs
// since the last one.
func TestEvalEvery(t *testing.T) {
	res, r, err := run(t, small(map[string]any{"epochs": 5, "eval_every": 2}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 4, 5}; !equalInts(r.steps, want) {
		t.Fatalf("reported steps %v, want %v", r.steps, want)
	}
	for i, p := range r.profiles {
		epochs := []float64{2, 2, 1}[i]
		if got := r.metrics[i]["seconds_per_epoch"] * epochs; math.Abs(got-p.WallSeconds) > 1e-9 {
			t.Errorf("report %d: seconds_per_epoch × %v epochs = %v, profile wall %v", i, epochs, got, p.WallSeconds)
		}
		if p.Phases["eval"] <= 0 {
			t.Errorf("report %d: no evaluation time", i)
		}
	}
	if res.Metrics["epochs"] != 5 || res.Metrics["val_accuracy"] != r.metrics[2]["val_accuracy"] {
		t.Errorf("final metrics %v", res.Metrics)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func reflectEta(s any) float64 {
	v := reflect.ValueOf(s).Elem().FieldByName("eta")
	return v.Float()
}

// smallTrainer is a trainer on small data with these options on top of
// small's, with its config and data.
func smallTrainer(t *testing.T, opts map[string]any) (*trainer, Config, *Data) {
	t.Helper()
	cfg, err := ConfigFor(small(opts), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTrainer(cfg, data, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tr, cfg, data
}
