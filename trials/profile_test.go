package trials

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func goodProfile() *Profile {
	return &Profile{
		WallSeconds: 10,
		Phases: map[string]float64{
			PhaseData: 1, PhaseForward: 2, PhaseBackward: 2, PhaseOptimizer: 4.5, PhaseEval: 0.5,
		},
		HeapPeakBytes: 1 << 20, RSSPeakBytes: 2 << 20,
		MatmulFLOPs: 4e9, MatmulSeconds: 2, PeakFLOPS: 1e10,
	}
}

func TestProfileValidate(t *testing.T) {
	manyPhases := map[string]float64{}
	for i := range MaxPhases + 1 {
		manyPhases[fmt.Sprintf("p%d", i)] = 0.01
	}
	for _, tc := range []struct {
		name   string
		change func(p *Profile)
		want   string // "" for valid
	}{
		{"good", func(p *Profile) {}, ""},
		{"only wall", func(p *Profile) { *p = Profile{WallSeconds: 3} }, ""},
		{"zero wall, no phases", func(p *Profile) { *p = Profile{} }, ""},
		{"phases at 105% of wall", func(p *Profile) { p.Phases = map[string]float64{"a": 10.5} }, ""},
		{"tiny step within the absolute slack", func(p *Profile) {
			*p = Profile{WallSeconds: 0.0001, Phases: map[string]float64{"a": 0.0005}}
		}, ""},
		{"exactly 32 phases", func(p *Profile) {
			p.Phases = map[string]float64{}
			for i := range MaxPhases {
				p.Phases[fmt.Sprintf("p_%d", i)] = 0.1
			}
		}, ""},
		{"NaN wall", func(p *Profile) { p.WallSeconds = math.NaN() }, "wall_seconds must be a finite number"},
		{"negative wall", func(p *Profile) { p.WallSeconds = -1 }, "wall_seconds must be a finite number >= 0"},
		{"infinite phase", func(p *Profile) { p.Phases["data"] = math.Inf(1) }, `phase "data" must be a finite`},
		{"negative phase", func(p *Profile) { p.Phases["data"] = -0.1 }, `phase "data" must be a finite number of seconds >= 0`},
		{"too many phases", func(p *Profile) { p.Phases = manyPhases }, "33 phases; at most 32"},
		{"upper-case name", func(p *Profile) { p.Phases = map[string]float64{"Data": 1} }, `phase name "Data"`},
		{"empty name", func(p *Profile) { p.Phases = map[string]float64{"": 1} }, `phase name ""`},
		{"65-char name", func(p *Profile) { p.Phases = map[string]float64{strings.Repeat("a", 65): 1} }, "1 to 64"},
		{"dash in name", func(p *Profile) { p.Phases = map[string]float64{"data-load": 1} }, "lower-case letters, digits or underscores"},
		{"phases above wall", func(p *Profile) { p.Phases = map[string]float64{"a": 6, "b": 5} }, "add up to 11 s, more than the step's wall_seconds 10 s"},
		{"negative heap", func(p *Profile) { p.HeapPeakBytes = -1 }, "heap_peak_bytes must be >= 0"},
		{"negative device peak", func(p *Profile) { p.DevicePeakBytes = -5 }, "device_peak_bytes must be >= 0"},
		{"NaN flops", func(p *Profile) { p.MatmulFLOPs = math.NaN() }, "matmul_flops must be a finite number"},
		{"negative matmul seconds", func(p *Profile) { p.MatmulSeconds = -1 }, "matmul_seconds must be a finite number >= 0"},
		{"infinite peak", func(p *Profile) { p.PeakFLOPS = math.Inf(1) }, "peak_flops"},
	} {
		p := goodProfile()
		tc.change(p)
		err := p.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Validate = %v, want an error containing %q", tc.name, err, tc.want)
		case tc.want != "" && !errors.Is(err, ErrInvalid):
			t.Errorf("%s: Validate = %v, not KindInvalid", tc.name, err)
		}
	}
}

// TestProfileValidatedWithItsPoint: the store's two entry points (a report
// and a recorded finished trial) both refuse a bad profile, naming it.
func TestProfileValidatedWithItsPoint(t *testing.T) {
	bad := &Profile{WallSeconds: 1, Phases: map[string]float64{"data": -1}}
	if err := (Intermediate{Step: 0, Value: 1, Profile: bad}).Validate(); err == nil || !strings.Contains(err.Error(), `phase "data"`) {
		t.Errorf("Intermediate.Validate = %v, want the profile's error", err)
	}
	if err := (Intermediate{Step: 0, Value: 1, Profile: goodProfile()}).Validate(); err != nil {
		t.Errorf("Intermediate.Validate of a good profile = %v", err)
	}
	v := 1.0
	tr := Trial{State: TrialComplete, Value: &v, Intermediate: []Intermediate{{Step: 0, Value: 1}, {Step: 3, Value: 1, Profile: bad}}}
	if err := tr.ValidateFinished(); err == nil || !strings.Contains(err.Error(), `step 3: profile phase "data"`) {
		t.Errorf("ValidateFinished = %v, want the profile's error at step 3", err)
	}
}

func TestDerivedFigures(t *testing.T) {
	p := goodProfile()
	if r, ok := p.AchievedFLOPS(); !ok || r != 2e9 {
		t.Errorf("AchievedFLOPS = %v, %v; want 2e9", r, ok)
	}
	if s, ok := p.OutsideMatmul(); !ok || s != 0.8 {
		t.Errorf("OutsideMatmul = %v, %v; want 0.8", s, ok)
	}
	if _, ok := (&Profile{WallSeconds: 1}).AchievedFLOPS(); ok {
		t.Error("AchievedFLOPS without matmul figures is known")
	}
	if _, ok := (&Profile{WallSeconds: 1}).OutsideMatmul(); ok {
		t.Error("OutsideMatmul without matmul figures is known")
	}
}

func TestBottleneck(t *testing.T) {
	opt := func(wall, optimizer float64) *Profile {
		return &Profile{WallSeconds: wall, Phases: map[string]float64{PhaseForward: wall - optimizer, PhaseOptimizer: optimizer}}
	}
	for _, tc := range []struct {
		name  string
		trial Trial
		want  string
	}{
		{"no profiles", Trial{Intermediate: []Intermediate{{Step: 0, Value: 1}}}, ""},
		{"no intermediate values", Trial{}, ""},
		{"zero wall time", Trial{Intermediate: []Intermediate{{Profile: &Profile{}}}}, ""},
		{
			// Summed over steps: 6.2 of 10 s is the optimizer.
			"optimizer with its params",
			Trial{
				Params:       map[string]any{"optimizer": "adam", "precision": "float64", "batch_size": int64(32)},
				Intermediate: []Intermediate{{Step: 0, Profile: opt(4, 2)}, {Step: 1, Value: 1}, {Step: 2, Profile: opt(6, 4.2)}},
			},
			"62% of the epoch is the optimizer step (optimizer adam, precision float64)",
		},
		{
			"with matrix-product figures",
			Trial{Intermediate: []Intermediate{{Profile: goodProfile()}}},
			"45% of the epoch is the optimizer step; matrix products reach 20% of peak, 80% of the time is outside them",
		},
		{
			"matmul time without a peak",
			Trial{Intermediate: []Intermediate{{Profile: &Profile{WallSeconds: 2, Phases: map[string]float64{PhaseData: 1.5}, MatmulSeconds: 0.5}}}},
			"75% of the epoch is data (assembling and converting batches); 75% of the time is outside matrix products",
		},
		{
			"an exec workload's own phase",
			Trial{Intermediate: []Intermediate{{Profile: &Profile{WallSeconds: 200, Phases: map[string]float64{"all_reduce": 1, "step": 0.5}}}}},
			`0.5% of the epoch is the "all_reduce" phase`,
		},
	} {
		if got := tc.trial.Bottleneck(); got != tc.want {
			t.Errorf("%s: Bottleneck = %q, want %q", tc.name, got, tc.want)
		}
	}
}
