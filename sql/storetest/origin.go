package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// testOrigin: every way a trial is created stores what decided its params
// in the same write, and nothing after (a claim, a tell, a lost lease and
// its retry) changes it.
func (su suite) testOrigin(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "origins", func(st *trials.Study) {
		st.MaxRetries, st.LeaseSeconds = 1, 60
	})
	wantOrigin := func(what string, tr *trials.Trial, want trials.Origin) {
		t.Helper()
		if tr.Origin != want {
			t.Errorf("%s: origin %q, want %q", what, tr.Origin, want)
		}
		got, err := s.GetTrial(ctx, tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Origin != want {
			t.Errorf("%s, read back: origin %q, want %q", what, got.Origin, want)
		}
	}

	for _, o := range []trials.Origin{trials.OriginStartup, trials.OriginTPE, trials.OriginCMAES} {
		tr, err := s.CreateRunning(ctx, st.ID, Params(16), nil, o, "r1", false)
		if err != nil {
			t.Fatal(err)
		}
		wantOrigin("CreateRunning", tr, o)
		tell(t, s, tr, trials.TrialComplete, 0.5)
	}

	queued, err := s.EnqueueTrial(ctx, st.ID, Params(32))
	if err != nil {
		t.Fatal(err)
	}
	wantOrigin("EnqueueTrial", queued, trials.OriginEnqueued)
	claimed, err := s.ClaimWaiting(ctx, st.ID, "r1", false)
	if err != nil || claimed == nil || claimed.ID != queued.ID {
		t.Fatalf("ClaimWaiting = %+v, %v; want trial %d", claimed, err, queued.ID)
	}
	wantOrigin("claimed enqueued trial", claimed, trials.OriginEnqueued)

	// The claimed trial loses its lease and is handed out again: it keeps
	// its origin, and its attempt says it was retried.
	s.SetClockOffset(61 * time.Second)
	if requeued, failed, err := s.ReapExpired(ctx); err != nil || requeued != 1 || failed != 0 {
		t.Fatalf("ReapExpired = %d requeued, %d failed, %v; want 1, 0", requeued, failed, err)
	}
	retried, err := s.ClaimWaiting(ctx, st.ID, "r2", false)
	if err != nil || retried == nil || retried.ID != queued.ID || retried.Attempt != 1 {
		t.Fatalf("ClaimWaiting after reaping = %+v, %v; want trial %d at attempt 1", retried, err, queued.ID)
	}
	wantOrigin("retried trial", retried, trials.OriginEnqueued)

	recorded, err := s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16)})
	if err != nil {
		t.Fatal(err)
	}
	wantOrigin("AddTrial without an origin", recorded, trials.OriginRecorded)
	imported, err := s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16), Origin: trials.OriginTPE})
	if err != nil {
		t.Fatal(err)
	}
	wantOrigin("AddTrial with an origin", imported, trials.OriginTPE)
	_, err = s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16), Origin: "oracle"})
	wantErr(t, err, trials.ErrInvalid, `unknown origin "oracle"`)

	changed, _, err := s.TrialsChangedSince(ctx, st.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []trials.Origin
	for _, tr := range changed {
		got = append(got, tr.Origin)
	}
	want := []trials.Origin{trials.OriginStartup, trials.OriginTPE, trials.OriginCMAES, trials.OriginEnqueued,
		trials.OriginRecorded, trials.OriginTPE}
	if !slices.Equal(got, want) {
		t.Errorf("TrialsChangedSince origins %v, want %v", got, want)
	}
}
