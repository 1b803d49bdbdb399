package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tune-dev/tune/trials"
)

func (su suite) testHeartbeat(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "beats", func(st *trials.Study) { st.LeaseSeconds = 30 })
	tr := createRunning(t, s, st.ID, 16, "r1")

	// Move the database clock: the lease is extended from its time, not
	// Go's.
	s.SetClockOffset(20 * time.Second)
	expires, stop, err := s.Heartbeat(ctx, tr.ID, &tr.Lease)
	if err != nil {
		t.Fatal(err)
	}
	if stop {
		t.Error("Heartbeat says stop on a running study")
	}
	if want := tr.LeaseExpiresAt.Add(20 * time.Second); !near(expires, want, 2*time.Second) {
		t.Errorf("lease extended to %v, want about %v", expires, want)
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil || !got.LeaseExpiresAt.Equal(expires) || !got.UpdatedAt.After(tr.UpdatedAt) {
		t.Errorf("after Heartbeat: trial %+v, %v", got, err)
	}
	// Without a token the trial's state decides.
	if _, _, err := s.Heartbeat(ctx, tr.ID, nil); err != nil {
		t.Errorf("Heartbeat without a lease: %v", err)
	}

	before, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Heartbeat(ctx, tr.ID, ptr(tr.Lease+1))
	wantErr(t, err, trials.ErrConflict, "lease 1, you presented 2")
	if after, err := s.GetTrial(ctx, tr.ID); err != nil || !cmp.Equal(before, after) {
		t.Errorf("a refused heartbeat changed the trial: %s (%v)", cmp.Diff(before, after), err)
	}

	if _, err := s.SetStudyState(ctx, st.ID, trials.StudyDone); err != nil {
		t.Fatal(err)
	}
	if _, stop, err := s.Heartbeat(ctx, tr.ID, &tr.Lease); err != nil || !stop {
		t.Errorf("Heartbeat on a done study = stop %v, %v; want stop", stop, err)
	}

	tell(t, s, tr, trials.TrialComplete, 1)
	_, _, err = s.Heartbeat(ctx, tr.ID, &tr.Lease)
	wantErr(t, err, trials.ErrConflict, "already finished as complete")
	_, _, err = s.Heartbeat(ctx, 999, nil)
	wantErr(t, err, trials.ErrNotFound, "trial 999 does not exist")
}

func (su suite) testReport(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "curves", nil)
	tr := createRunning(t, s, st.ID, 16, "r1")

	for _, p := range []trials.Intermediate{
		{Step: 2, Value: 0.5, Metrics: map[string]float64{"samples_per_second": 900}},
		{Step: 0, Value: 0.9},
		{Step: 1, Value: 0.7},
		{Step: 2, Value: 0.4, Metrics: map[string]float64{"samples_per_second": 950}}, // replaces step 2
	} {
		if _, err := s.Report(ctx, tr.ID, &tr.Lease, p); err != nil {
			t.Fatalf("Report(step %d): %v", p.Step, err)
		}
	}
	got, err := s.Report(ctx, tr.ID, nil, trials.Intermediate{Step: 10, Value: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	want := []trials.Intermediate{
		{Step: 0, Value: 0.9, Metrics: map[string]float64{}},
		{Step: 1, Value: 0.7, Metrics: map[string]float64{}},
		{Step: 2, Value: 0.4, Metrics: map[string]float64{"samples_per_second": 950}},
		{Step: 10, Value: 0.3, Metrics: map[string]float64{}},
	}
	if diff := cmp.Diff(want, got.Intermediate); diff != "" {
		t.Errorf("intermediate values (-want +got):\n%s", diff)
	}
	if last, _ := got.LastIntermediate(); last.Step != 10 {
		t.Errorf("last step %d, want 10", last.Step)
	}

	// A stale token changes nothing.
	_, err = s.Report(ctx, tr.ID, ptr(int64(7)), trials.Intermediate{Step: 3, Value: 0})
	wantErr(t, err, trials.ErrConflict, "you presented 7")
	again, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("a refused report changed the trial (-before +after):\n%s", diff)
	}

	_, err = s.Report(ctx, tr.ID, nil, trials.Intermediate{Step: -1, Value: 0})
	wantErr(t, err, trials.ErrInvalid)
	queued, err := s.EnqueueTrial(ctx, st.ID, Params(16))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Report(ctx, queued.ID, nil, trials.Intermediate{Step: 0, Value: 1})
	wantErr(t, err, trials.ErrConflict, "waiting")
	_, err = s.Report(ctx, 999, nil, trials.Intermediate{Step: 0, Value: 1})
	wantErr(t, err, trials.ErrNotFound)
}

func (su suite) testSetSystemAttrs(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "attrs", nil)
	tr := createRunning(t, s, st.ID, 16, "r1")
	if err := s.SetSystemAttrs(ctx, tr.ID, map[string]string{"completed_rung_0": "0.5", "seed": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSystemAttrs(ctx, tr.ID, map[string]string{"completed_rung_1": "0.4", "seed": "2"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"completed_rung_0": "0.5", "completed_rung_1": "0.4", "seed": "2"}
	if diff := cmp.Diff(want, got.SystemAttrs); diff != "" {
		t.Errorf("system attrs (-want +got):\n%s", diff)
	}
	tell(t, s, tr, trials.TrialPruned, 0.4)
	wantErr(t, s.SetSystemAttrs(ctx, tr.ID, want), trials.ErrConflict, "already finished as pruned")
	wantErr(t, s.SetSystemAttrs(ctx, 999, want), trials.ErrNotFound)
}

// testCreateRunningWithAttrs: the sampler's attrs are written with the
// trial, so every read of the trial, the first included, carries them.
func (su suite) testCreateRunningWithAttrs(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "created-with-attrs", nil)
	want := map[string]string{"goptuna:cmaes:generationId": "0000000000000042-0"}
	tr, err := s.CreateRunning(ctx, st.ID, Params(16), want, trials.OriginRandom, "r1", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, tr.SystemAttrs); diff != "" {
		t.Errorf("CreateRunning's trial system attrs (-want +got):\n%s", diff)
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr, got); diff != "" {
		t.Errorf("GetTrial differs from CreateRunning (-create +get):\n%s", diff)
	}
	changed, _, err := s.TrialsChangedSince(ctx, st.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || !cmp.Equal(want, changed[0].SystemAttrs) {
		t.Errorf("TrialsChangedSince(0) = %+v, want the trial with attrs %v", changed, want)
	}
	// Later bookkeeping merges with what the create wrote.
	if err := s.SetSystemAttrs(ctx, tr.ID, map[string]string{"completed_rung_0": "0.5"}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	want["completed_rung_0"] = "0.5"
	if diff := cmp.Diff(want, got.SystemAttrs); diff != "" {
		t.Errorf("system attrs after SetSystemAttrs (-want +got):\n%s", diff)
	}
}

func (su suite) testTell(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "tells", nil)
	tr := createRunning(t, s, st.ID, 16, "r1")
	o := trials.Outcome{State: trials.TrialComplete, Value: ptr(0.25), Metrics: map[string]float64{"val_loss": 0.25, "seconds": 12}}

	done, err := s.Tell(ctx, tr.ID, &tr.Lease, o)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != trials.TrialComplete || *done.Value != 0.25 || done.FinishedAt == nil || done.LeaseExpiresAt != nil {
		t.Errorf("told trial = %+v", done)
	}
	if diff := cmp.Diff(o.Metrics, done.Metrics); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	// The same outcome again (a retried request) returns it unchanged.
	again, err := s.Tell(ctx, tr.ID, &tr.Lease, o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(done, again); diff != "" {
		t.Errorf("a repeated tell changed the trial (-first +again):\n%s", diff)
	}
	// A different one is refused.
	other := o
	other.Value = ptr(0.3)
	_, err = s.Tell(ctx, tr.ID, &tr.Lease, other)
	wantErr(t, err, trials.ErrConflict, "already finished as complete (value 0.25)")
	_, err = s.Tell(ctx, tr.ID, nil, trials.Outcome{State: trials.TrialFailed, Error: "oops"})
	wantErr(t, err, trials.ErrConflict)
	// The same outcome under another lease is not a retry of this grant.
	_, err = s.Tell(ctx, tr.ID, ptr(tr.Lease+1), o)
	wantErr(t, err, trials.ErrConflict, "under lease 1; you presented lease 2")

	// A stale token changes nothing.
	live := createRunning(t, s, st.ID, 32, "r1")
	_, err = s.Tell(ctx, live.ID, ptr(live.Lease+5), o)
	wantErr(t, err, trials.ErrConflict, "you presented 6")
	if got, err := s.GetTrial(ctx, live.ID); err != nil || got.State != trials.TrialRunning || got.Value != nil {
		t.Errorf("a refused tell changed the trial: %+v, %v", got, err)
	}

	queued, err := s.EnqueueTrial(ctx, st.ID, Params(16))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Tell(ctx, queued.ID, nil, o)
	wantErr(t, err, trials.ErrConflict, "waiting")

	_, err = s.Tell(ctx, live.ID, nil, trials.Outcome{State: trials.TrialComplete})
	wantErr(t, err, trials.ErrInvalid, "value")
	_, err = s.Tell(ctx, live.ID, nil, trials.Outcome{State: trials.TrialRunning})
	wantErr(t, err, trials.ErrInvalid)
	_, err = s.Tell(ctx, 999, nil, o)
	wantErr(t, err, trials.ErrNotFound, "trial 999 does not exist")

	// Failed with an error, no value.
	failed, err := s.Tell(ctx, live.ID, nil, trials.Outcome{State: trials.TrialFailed, Error: "CUDA out of memory"})
	if err != nil {
		t.Fatal(err)
	}
	if failed.State != trials.TrialFailed || failed.Error != "CUDA out of memory" || failed.Value != nil {
		t.Errorf("failed trial = %+v", failed)
	}
}

func (su suite) testStudyDoneAfterLastTrial(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "finite", func(st *trials.Study) { st.MaxTrials = 3 })
	a := createRunning(t, s, st.ID, 16, "r1")
	b := createRunning(t, s, st.ID, 16, "r2")
	tell(t, s, a, trials.TrialComplete, 1)
	// Two trials exist, none left unfinished, but the study is not done:
	// it has room for one more.
	if got, _ := s.GetStudy(ctx, st.ID); got.State != trials.StudyRunning {
		t.Fatalf("study %s before its last trial", got.State)
	}
	c := createRunning(t, s, st.ID, 16, "r3")
	tell(t, s, c, trials.TrialPruned, 2)
	if got, _ := s.GetStudy(ctx, st.ID); got.State != trials.StudyRunning {
		t.Fatalf("study %s with a trial still running", got.State)
	}
	if _, stop, err := s.Heartbeat(ctx, b.ID, &b.Lease); err != nil || stop {
		t.Fatalf("Heartbeat = stop %v, %v", stop, err)
	}
	tell(t, s, b, trials.TrialComplete, 3)
	got, err := s.GetStudy(ctx, st.ID)
	if err != nil || got.State != trials.StudyDone {
		t.Fatalf("after the last tell the study is %v (%v), want done", got.State, err)
	}

	// Resuming is allowed; a repeated tell of the last trial does not stop
	// the study again.
	if _, err := s.SetStudyState(ctx, st.ID, trials.StudyRunning); err != nil {
		t.Fatal(err)
	}
	tell(t, s, b, trials.TrialComplete, 3)
	if got, _ := s.GetStudy(ctx, st.ID); got.State != trials.StudyRunning {
		t.Errorf("a repeated tell set the study to %s", got.State)
	}
	_, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r1", false)
	wantErr(t, err, trials.ErrConflict, "max_trials")
}

func (su suite) testReapExpired(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "reaped", func(st *trials.Study) {
		st.MaxTrials, st.MaxRetries, st.LeaseSeconds = 1, 1, 60
	})
	tr := createRunning(t, s, st.ID, 64, "gpu-1")
	if _, err := s.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: 0, Value: 0.8}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSystemAttrs(ctx, tr.ID, map[string]string{"completed_rung_0": "0.8"}); err != nil {
		t.Fatal(err)
	}

	// Nothing has expired yet.
	if requeued, failed, err := s.ReapExpired(ctx); err != nil || requeued+failed != 0 {
		t.Fatalf("ReapExpired before expiry = %d, %d, %v", requeued, failed, err)
	}

	s.SetClockOffset(61 * time.Second)
	requeued, failed, err := s.ReapExpired(ctx)
	if err != nil || requeued != 1 || failed != 0 {
		t.Fatalf("first ReapExpired = %d requeued, %d failed, %v; want 1, 0", requeued, failed, err)
	}
	waiting, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if waiting.State != trials.TrialWaiting || waiting.Attempt != 1 || waiting.Runner != "" ||
		waiting.LeaseExpiresAt != nil || waiting.Number != tr.Number ||
		len(waiting.Intermediate) != 0 || len(waiting.Metrics) != 0 || len(waiting.SystemAttrs) != 0 {
		t.Errorf("requeued trial = %+v", waiting)
	}
	if diff := cmp.Diff(tr.Params, waiting.Params); diff != "" {
		t.Errorf("requeued params (-original +requeued):\n%s", diff)
	}
	// The lost runner is refused, with a reason it can act on.
	_, _, err = s.Heartbeat(ctx, tr.ID, &tr.Lease)
	wantErr(t, err, trials.ErrConflict, "lease expired", "retried")

	retry, err := s.ClaimWaiting(ctx, st.ID, "gpu-2", true)
	if err != nil || retry == nil || retry.ID != tr.ID {
		t.Fatalf("ClaimWaiting after requeue = %+v, %v", retry, err)
	}
	if retry.Lease != 2 || retry.Runner != "gpu-2" || retry.Attempt != 1 {
		t.Errorf("retried grant: lease %d, runner %q, attempt %d; want 2, gpu-2, 1", retry.Lease, retry.Runner, retry.Attempt)
	}
	_, err = s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(0.1)})
	wantErr(t, err, trials.ErrConflict, "handed to another runner (lease 2, you presented 1)")

	// The retry's runner dies too: no retries are left.
	s.SetClockOffset(3 * time.Minute)
	requeued, failed, err = s.ReapExpired(ctx)
	if err != nil || requeued != 0 || failed != 1 {
		t.Fatalf("second ReapExpired = %d requeued, %d failed, %v; want 0, 1", requeued, failed, err)
	}
	dead, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dead.State != trials.TrialFailed || dead.Attempt != 2 || dead.FinishedAt == nil || dead.LeaseExpiresAt != nil ||
		dead.Error != "lease expired after 2 attempts; runner gpu-2 stopped heartbeating" {
		t.Errorf("failed trial = %+v", dead)
	}
	// It was the study's only trial: the study is done.
	if got, _ := s.GetStudy(ctx, st.ID); got.State != trials.StudyDone {
		t.Errorf("study %s after its last trial failed, want done", got.State)
	}
	_, err = s.Tell(ctx, tr.ID, &retry.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(0.1)})
	wantErr(t, err, trials.ErrConflict, "lease expired after 2 attempts")
}

func (su suite) testReapExpiredPlainClient(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "ask-tell", nil) // no retries
	tr := createRunning(t, s, st.ID, 16, "")
	s.SetClockOffset(2 * time.Minute)
	if requeued, failed, err := s.ReapExpired(ctx); err != nil || requeued != 0 || failed != 1 {
		t.Fatalf("ReapExpired = %d, %d, %v", requeued, failed, err)
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil || got.Error != "lease expired after 1 attempt; its ask/tell client stopped heartbeating" {
		t.Errorf("failed trial error %q, %v", got.Error, err)
	}
	// The study has no cap: it stays running.
	if st, _ := s.GetStudy(ctx, st.ID); st.State != trials.StudyRunning {
		t.Errorf("study %s, want running", st.State)
	}
}

func (su suite) testTrialsChangedSince(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "history", nil)
	other := createStudy(t, s, "other", nil)
	var trs []*trials.Trial
	for range 5 {
		trs = append(trs, createRunning(t, s, st.ID, 16, "r"))
	}
	createRunning(t, s, other.ID, 16, "r")

	all, cursor, err := s.TrialsChangedSince(ctx, st.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || cursor <= 0 {
		t.Fatalf("from cursor 0: %d trials, cursor %d; want 5 and a positive cursor", len(all), cursor)
	}
	for i, tr := range all {
		if tr.ID != trs[i].ID {
			t.Errorf("trial %d is %d, want %d (by number)", i, tr.ID, trs[i].ID)
		}
	}
	if diff := cmp.Diff(trs[2], &all[2]); diff != "" {
		t.Errorf("trial as read differs from the trial as written (-written +read):\n%s", diff)
	}

	// Nothing changes: once the transactions that were running elsewhere
	// on the server at the first read have finished, no trial comes back.
	cursor2 := QuietCursor(t, s, st.ID, cursor)

	// Two trials change; only they come back.
	tell(t, s, trs[1], trials.TrialComplete, 0.5)
	if _, err := s.Report(ctx, trs[3].ID, nil, trials.Intermediate{Step: 1, Value: 0.7}); err != nil {
		t.Fatal(err)
	}
	changed, cursor3, err := s.TrialsChangedSince(ctx, st.ID, cursor2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, tr := range changed {
		ids = append(ids, tr.ID)
	}
	if diff := cmp.Diff([]int64{trs[1].ID, trs[3].ID}, ids); diff != "" {
		t.Fatalf("changed trials (-want +got):\n%s", diff)
	}
	if changed[0].State != trials.TrialComplete || len(changed[1].Intermediate) != 1 {
		t.Errorf("changed trials lack their change: %+v", changed)
	}
	if cursor3 < cursor2 {
		t.Errorf("cursor went back from %d to %d", cursor2, cursor3)
	}

	// Every write path stamps the trial, whatever the clock says: the
	// cursor is not a time.
	cursor3 = QuietCursor(t, s, st.ID, cursor3)
	s.SetClockOffset(-time.Hour)
	if err := s.SetSystemAttrs(ctx, trs[0].ID, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	s.SetClockOffset(0)
	if _, _, err := s.Heartbeat(ctx, trs[4].ID, &trs[4].Lease); err != nil {
		t.Fatal(err)
	}
	added := createRunning(t, s, st.ID, 32, "r")
	changed, _, err = s.TrialsChangedSince(ctx, st.ID, cursor3)
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for _, tr := range changed {
		ids = append(ids, tr.ID)
	}
	if diff := cmp.Diff([]int64{trs[0].ID, trs[4].ID, added.ID}, ids); diff != "" {
		t.Errorf("changed trials (-want +got):\n%s", diff)
	}

	// A study without trials still yields a cursor.
	empty := createStudy(t, s, "empty", nil)
	none, c, err := s.TrialsChangedSince(ctx, empty.ID, 0)
	if err != nil || len(none) != 0 || c <= 0 || none == nil {
		t.Errorf("empty study: %v trials, cursor %d, %v; want [], a positive cursor", none, c, err)
	}

	_, _, err = s.TrialsChangedSince(ctx, 999, 0)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
}

// QuietCursor follows the study's cursor until a read returns no trial,
// and returns that cursor: from it, only later writes come back. A store
// may repeat trials that did not change (on PostgreSQL, other tests'
// transactions on the same server hold the cursor back for a moment); the
// contract allows that, so the suite waits it out rather than count it.
func QuietCursor(t *testing.T, s trials.Store, studyID, cursor int64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		changed, next, err := s.TrialsChangedSince(context.Background(), studyID, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if next < cursor {
			t.Fatalf("cursor went back from %d to %d", cursor, next)
		}
		if len(changed) == 0 {
			return next
		}
		if time.Now().After(deadline) {
			t.Fatalf("trials keep coming back 10 s after the last write: %d, cursor %d", len(changed), next)
		}
		cursor = next
		time.Sleep(10 * time.Millisecond)
	}
}
