package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tune-dev/tune/trials"
)

// profile is a step's profile with every figure set, numbers chosen to
// catch a store that rounds, truncates or drops a field.
func profile(wall float64) *trials.Profile {
	return &trials.Profile{
		WallSeconds: wall,
		Phases: map[string]float64{
			trials.PhaseData: wall * 0.1, trials.PhaseForward: wall * 0.25, trials.PhaseBackward: wall * 0.3,
			trials.PhaseOptimizer: wall * 0.2, trials.PhaseEval: 0.000123456789, trials.PhaseOther: wall * 0.05,
		},
		HeapPeakBytes: 123_456_789, RSSPeakBytes: 1 << 40, DeviceBytes: 7, DevicePeakBytes: 9_007_199_254_740_993,
		MatmulFLOPs: 1.2345678901234e12, MatmulSeconds: 0.987654321, PeakFLOPS: 5.5e13,
	}
}

// testProfiles: a step's profile is kept with its point, whole, through a
// report, a report that replaces the step, a record of a finished trial,
// and every read; a bad profile is refused and changes nothing.
func (su suite) testProfiles(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "profiles", nil)
	tr := createRunning(t, s, st.ID, 16, "r1")

	for _, p := range []trials.Intermediate{
		{Step: 0, Value: 0.9, Profile: profile(3)},
		{Step: 1, Value: 0.8, Profile: &trials.Profile{WallSeconds: 1}},
		{Step: 2, Value: 0.7},
		{Step: 1, Value: 0.6, Profile: profile(2.5)}, // replaces step 1 and its profile
	} {
		if _, err := s.Report(ctx, tr.ID, &tr.Lease, p); err != nil {
			t.Fatalf("Report(step %d): %v", p.Step, err)
		}
	}
	want := []trials.Intermediate{
		{Step: 0, Value: 0.9, Metrics: map[string]float64{}, Profile: profile(3)},
		{Step: 1, Value: 0.6, Metrics: map[string]float64{}, Profile: profile(2.5)},
		{Step: 2, Value: 0.7, Metrics: map[string]float64{}},
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.Intermediate); diff != "" {
		t.Errorf("GetTrial: intermediate values (-want +got):\n%s", diff)
	}
	page, _, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 {
		t.Fatalf("ListTrials: %d trials, want 1", len(page))
	}
	if diff := cmp.Diff(want, page[0].Intermediate); diff != "" {
		t.Errorf("ListTrials: intermediate values (-want +got):\n%s", diff)
	}

	// A bad profile is refused with its point; the curve stays as it was.
	bad := profile(1)
	bad.Phases["optimizer"] = 5
	_, err = s.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 3, Value: 0.5, Profile: bad})
	wantErr(t, err, trials.ErrInvalid, "add up to")
	_, err = s.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 0, Value: 0.5, Profile: &trials.Profile{WallSeconds: 1, HeapPeakBytes: -1}})
	wantErr(t, err, trials.ErrInvalid, "heap_peak_bytes")
	again, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again.Intermediate); diff != "" {
		t.Errorf("a refused report changed the curve (-want +got):\n%s", diff)
	}

	// A recorded finished trial (an import) keeps its profiles.
	rec := trials.Trial{
		State: trials.TrialComplete, Params: Params(32), Value: ptr(0.5),
		Intermediate: []trials.Intermediate{
			{Step: 0, Value: 0.7, Profile: profile(4)},
			{Step: 1, Value: 0.5, Metrics: map[string]float64{"loss": 0.2}, Profile: &trials.Profile{WallSeconds: 2, Phases: map[string]float64{"my_phase_1": 1.5}}},
		},
	}
	added, err := s.AddTrial(ctx, st.ID, rec)
	if err != nil {
		t.Fatalf("AddTrial: %v", err)
	}
	stored, err := s.GetTrial(ctx, added.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rec.Intermediate, stored.Intermediate, cmp.Transformer("nilMetrics", emptyAsNil)); diff != "" {
		t.Errorf("AddTrial: intermediate values (-want +got):\n%s", diff)
	}
	rec.Intermediate[1].Profile = &trials.Profile{WallSeconds: 1, Phases: map[string]float64{"Bad Name": 0.5}}
	_, err = s.AddTrial(ctx, st.ID, rec)
	wantErr(t, err, trials.ErrInvalid, "step 1", `"Bad Name"`)
}

// emptyAsNil treats an empty metrics map as none, as a store may keep
// either.
func emptyAsNil(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	return m
}
