package mnist

import (
	"math"
	"testing"

	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

var allPhases = []string{trials.PhaseData, trials.PhaseForward, trials.PhaseBackward, trials.PhaseOptimizer,
	trials.PhaseExchange, trials.PhaseEval, trials.PhaseOther}

// referenceOptions is the reference configuration of the profile's
// targets (and of the overhead benchmark): the defaults (batch 128, 128
// hidden units, float32, adam) on 4,096 training and 1,000 test images.
func referenceOptions(extra map[string]any) map[string]any {
	o := map[string]any{"train_samples": 4096, "test_samples": 1000, "epochs": 2}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// TestProfilePhases: every report carries all the phases, none negative,
// summing to the epoch's wall time; the named phases cover the epoch
// (other, the bookkeeping between them, stays under 5%); exchange is
// spent only with several workers; the matrix products' FLOPs are the
// count from the layer shapes.
func TestProfilePhases(t *testing.T) {
	for _, workers := range []int64{1, 2} {
		res, r, err := run(t, referenceOptions(nil), map[string]any{"workers": workers})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.profiles) != 2 {
			t.Fatalf("workers=%d: %d profiles, want one per epoch", workers, len(r.profiles))
		}
		for i, p := range r.profiles {
			if p == nil {
				t.Fatalf("workers=%d epoch %d: no profile", workers, i+1)
			}
			if math.Abs(p.WallSeconds-r.metrics[i]["seconds_per_epoch"]) > 1e-9 {
				t.Errorf("wall %v but seconds_per_epoch %v", p.WallSeconds, r.metrics[i]["seconds_per_epoch"])
			}
			var sum float64
			for _, name := range allPhases {
				v, ok := p.Phases[name]
				if !ok || v < 0 || math.IsNaN(v) {
					t.Errorf("workers=%d epoch %d: phase %s = %v, %v", workers, i+1, name, v, ok)
				}
				sum += v
			}
			if len(p.Phases) != len(allPhases) {
				t.Errorf("phases %v", p.Phases)
			}
			if math.Abs(sum-p.WallSeconds) > 0.05*p.WallSeconds {
				t.Errorf("workers=%d epoch %d: phases sum to %.4fs, wall %.4fs", workers, i+1, sum, p.WallSeconds)
			}
			if other := p.Phases[trials.PhaseOther]; other > 0.05*p.WallSeconds {
				t.Errorf("workers=%d epoch %d: other is %.4fs of %.4fs: the named phases miss time (%v)", workers, i+1, other, p.WallSeconds, p.Phases)
			}
			for _, name := range []string{trials.PhaseData, trials.PhaseForward, trials.PhaseBackward, trials.PhaseOptimizer, trials.PhaseEval} {
				if p.Phases[name] <= 0 {
					t.Errorf("workers=%d: phase %s = %v", workers, name, p.Phases[name])
				}
			}
			if ex := p.Phases[trials.PhaseExchange]; (workers > 1) != (ex > 0) {
				t.Errorf("workers=%d: exchange %v", workers, ex)
			}
			// 4,096 examples, batch 128: 32 steps of 784·128 + 128·10
			// products forward (2·128·(784·128+128·10) FLOPs), twice that
			// backward less the input gradient of layer 0; one evaluation
			// of 1,000 examples.
			fwd := 2 * 128 * (784*128 + 128*10.0)
			train := fwd + 2*fwd - 2*128*784*128
			want := 32*train + 2*1000*(784*128+128*10.0)
			if p.MatmulFLOPs != want {
				t.Errorf("matmul_flops %v, want %v", p.MatmulFLOPs, want)
			}
			if p.MatmulSeconds <= 0 || p.PeakFLOPS <= 0 {
				t.Errorf("matmul_seconds %v, peak_flops %v", p.MatmulSeconds, p.PeakFLOPS)
			}
			if workers == 1 && p.MatmulSeconds > p.Phases[trials.PhaseForward]+p.Phases[trials.PhaseBackward]+p.Phases[trials.PhaseEval] {
				t.Errorf("matmul_seconds %v exceed forward+backward+eval %v", p.MatmulSeconds, p.Phases)
			}
			if p.HeapPeakBytes <= 0 {
				t.Errorf("heap_peak_bytes %d", p.HeapPeakBytes)
			}
			t.Logf("workers=%d epoch %d: wall %.3fs phases %v; %.2f GFLOP/s of %.2f peak; heap %d rss %d",
				workers, i+1, p.WallSeconds, p.Phases, p.MatmulFLOPs/p.MatmulSeconds/1e9, p.PeakFLOPS/1e9, p.HeapPeakBytes, p.RSSPeakBytes)
		}
		for _, k := range []string{"heap_peak_bytes", "rss_peak_bytes"} {
			if _, ok := res.Metrics[k]; !ok {
				t.Errorf("final metric %s missing", k)
			}
		}
	}
}

// TestMemoryIsTheTrials: a small trial reports the same peaks whether it
// runs first or after a large one. The tolerance is 20% or 4 MiB,
// whichever is larger: the heap includes garbage not yet collected, and
// where a collection falls is not the same from run to run, and the
// resident set moves by whole pages the runtime keeps or returns; a trial
// that inherited the large one's memory would be off by the large one's
// ~100 MiB.
func TestMemoryIsTheTrials(t *testing.T) {
	smallTrial := map[string]any{"train_samples": 1024, "test_samples": 200, "epochs": 1, "hidden_units": 64}
	peaks := func() (heap, rss int64) {
		_, r, err := run(t, smallTrial, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := r.profiles[len(r.profiles)-1]
		return p.HeapPeakBytes, p.RSSPeakBytes
	}
	heap1, rss1 := peaks()
	_, big, err := run(t, map[string]any{"train_samples": 512, "test_samples": 200, "epochs": 1, "hidden_units": 1024, "layers": 2, "precision": "float64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bp := big.profiles[0]
	heap2, rss2 := peaks()
	t.Logf("small first: heap %d rss %d; large: heap %d rss %d; small after: heap %d rss %d",
		heap1, rss1, bp.HeapPeakBytes, bp.RSSPeakBytes, heap2, rss2)
	if bp.HeapPeakBytes < 32<<20 {
		t.Fatalf("the large trial's heap peak %d is not large: the test proves nothing", bp.HeapPeakBytes)
	}
	near := func(a, b int64) bool {
		d := math.Abs(float64(a - b))
		return d <= max(0.2*float64(max(a, b)), 4<<20)
	}
	if !near(heap1, heap2) {
		t.Errorf("heap peak %d first, %d after a large trial", heap1, heap2)
	}
	if !near(rss1, rss2) {
		t.Errorf("rss peak %d first, %d after a large trial", rss1, rss2)
	}
}

// TestProfileOff: with profiling off reports carry wall time and memory
// but no phases.
func TestProfileOff(t *testing.T) {
	w := New(Options{})
	w.noProfile = true
	r := &recorder{}
	if _, err := w.Run(t.Context(), workload.Trial{Number: 3, Options: small(nil)}, r); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.profiles {
		if p == nil || p.WallSeconds <= 0 || p.Phases != nil || p.MatmulFLOPs != 0 {
			t.Errorf("profile with profiling off: %+v", p)
		}
	}
}

// TestSplitTapeComputesTheSame: a tape run in two parts (forward, then
// backward) trains exactly as one run whole; the first run of a
// profiling trainer is split, the second is not.
func TestSplitTapeComputesTheSame(t *testing.T) {
	cfg, err := ConfigFor(small(map[string]any{"precision": "float64", "layers": 2, "dropout": 0.1}), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := testWorkload.Data(cfg)
	if err != nil {
		t.Fatal(err)
	}
	weights := func(profile bool) []float64 {
		tr, err := newTrainer(cfg, data, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tr.replicas[0].tape == nil {
			t.Fatal("the training net's tape could not be split")
		}
		tr.clock.on = profile
		tr.clock.reset()
		tr.shuffle()
		for s := range 2 {
			if _, err := tr.step(tr.perm[s*32 : (s+1)*32]); err != nil {
				t.Fatal(err)
			}
		}
		if profile && (tr.clock.d[phForward] <= 0 || tr.clock.d[phBackward] <= 0) {
			t.Errorf("forward %v, backward %v", tr.clock.d[phForward], tr.clock.d[phBackward])
		}
		return flatValues(tr.replicas[0].values())
	}
	split, whole := weights(true), weights(false)
	for i := range split {
		if split[i] != whole[i] {
			t.Fatalf("weight %d: %v split, %v whole", i, split[i], whole[i])
		}
	}
}
