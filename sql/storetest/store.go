package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tune-dev/tune/trials"
)

func (su suite) testPing(t *testing.T) {
	s := su.open(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (su suite) testCreateAndGetStudy(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	in := Study("mnist-tpe")
	in.MaxTrials, in.MaxParallel, in.MaxRetries, in.LeaseSeconds = 20, 4, 2, 30
	seed := int64(1) << 60
	in.Sampler.Seed = &seed
	in.Pruner = trials.Pruner{Type: trials.PrunerMedian, WarmupSteps: ptr(2)}
	before := time.Now()

	got, err := s.CreateStudy(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.State != trials.StudyRunning || !near(got.CreatedAt, before, time.Minute) {
		t.Errorf("CreateStudy returned id %d, state %q, created %v", got.ID, got.State, got.CreatedAt)
	}
	if diff := cmp.Diff(in, *got, cmpopts.IgnoreFields(trials.Study{}, "ID", "CreatedAt")); diff != "" {
		t.Errorf("CreateStudy mismatch (-want +got):\n%s", diff)
	}
	byID, err := s.GetStudy(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, byID); diff != "" {
		t.Errorf("GetStudy mismatch (-created +got):\n%s", diff)
	}
	byName, err := s.GetStudyByName(ctx, "mnist-tpe")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, byName); diff != "" {
		t.Errorf("GetStudyByName mismatch (-created +got):\n%s", diff)
	}

	// A study without workload keeps none.
	bare := Study("bare")
	bare.Workload = nil
	b, err := s.CreateStudy(ctx, bare)
	if err != nil {
		t.Fatal(err)
	}
	if b.Workload != nil {
		t.Errorf("Workload = %+v, want nil", b.Workload)
	}

	_, err = s.CreateStudy(ctx, Study("mnist-tpe"))
	wantErr(t, err, trials.ErrConflict, `a study named "mnist-tpe" already exists`)
	_, err = s.CreateStudy(ctx, trials.Study{Name: "no-defaults"})
	wantErr(t, err, trials.ErrInvalid)
	_, err = s.GetStudy(ctx, 12345)
	wantErr(t, err, trials.ErrNotFound, "study 12345 does not exist")
	_, err = s.GetStudyByName(ctx, "nope")
	wantErr(t, err, trials.ErrNotFound, `study "nope" does not exist`)
}

func (su suite) testSetStudyState(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "states", nil)
	for _, state := range []trials.StudyState{trials.StudyPaused, trials.StudyRunning, trials.StudyDone, trials.StudyRunning} {
		got, err := s.SetStudyState(ctx, st.ID, state)
		if err != nil {
			t.Fatalf("SetStudyState(%s): %v", state, err)
		}
		if got.State != state {
			t.Errorf("SetStudyState(%s) returned state %s", state, got.State)
		}
		again, err := s.GetStudy(ctx, st.ID)
		if err != nil || again.State != state {
			t.Errorf("after SetStudyState(%s): GetStudy = %v, %v", state, again, err)
		}
	}
	_, err := s.SetStudyState(ctx, st.ID, "sleeping")
	wantErr(t, err, trials.ErrInvalid)
	_, err = s.SetStudyState(ctx, 999, trials.StudyPaused)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
}

func (su suite) testDeleteStudyCascades(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "doomed", nil)
	other := createStudy(t, s, "kept", nil)
	tr := createRunning(t, s, st.ID, 32, "r1")
	kept := createRunning(t, s, other.ID, 32, "r1")
	if _, err := s.EnqueueTrial(ctx, st.ID, Params(48)); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteStudy(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetStudy(ctx, st.ID)
	wantErr(t, err, trials.ErrNotFound)
	_, err = s.GetTrial(ctx, tr.ID)
	wantErr(t, err, trials.ErrNotFound, "trial", "does not exist")
	_, _, err = s.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1})
	wantErr(t, err, trials.ErrNotFound)
	if _, err := s.GetTrial(ctx, kept.ID); err != nil {
		t.Errorf("trial of another study: %v", err)
	}
	wantErr(t, s.DeleteStudy(ctx, st.ID), trials.ErrNotFound)
}

func (su suite) testParamsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "types", nil)
	// Params as a JSON decoder hands them over: every number a float64.
	loose := map[string]any{"batch_size": 64.0, "learning_rate": 0.0003, "activation": "tanh", "workers": 4.0}
	tr, err := s.CreateRunning(ctx, st.ID, loose, nil, trials.OriginRandom, "", false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"batch_size": int64(64), "learning_rate": 0.0003, "activation": "tanh", "workers": 4.0}
	if diff := cmp.Diff(want, tr.Params); diff != "" {
		t.Errorf("CreateRunning params (-want +got):\n%s", diff)
	}
	got, err := s.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.Params); diff != "" {
		t.Errorf("GetTrial params (-want +got):\n%s", diff)
	}
	// Empty documents come back as empty maps and slices, never nil.
	if got.Metrics == nil || got.Intermediate == nil || got.SystemAttrs == nil {
		t.Errorf("GetTrial returned nil maps or slices: %+v", got)
	}
	if diff := cmp.Diff(tr, got); diff != "" {
		t.Errorf("GetTrial differs from CreateRunning (-create +get):\n%s", diff)
	}
	_, err = s.GetTrial(ctx, 424242)
	wantErr(t, err, trials.ErrNotFound, "trial 424242 does not exist")
}

func (su suite) testEnqueueAndClaim(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "queue", func(st *trials.Study) { st.LeaseSeconds = 45 })

	var queued []*trials.Trial
	for i := range 3 {
		tr, err := s.EnqueueTrial(ctx, st.ID, Params(int64(16*(i+1))))
		if err != nil {
			t.Fatal(err)
		}
		if tr.Number != i || tr.State != trials.TrialWaiting || tr.Lease != 0 || tr.LeaseExpiresAt != nil || tr.StartedAt != nil {
			t.Errorf("EnqueueTrial #%d = %+v", i, tr)
		}
		queued = append(queued, tr)
	}
	for i := range 3 {
		tr, err := s.ClaimWaiting(ctx, st.ID, "r1", false)
		if err != nil {
			t.Fatal(err)
		}
		if tr == nil || tr.ID != queued[i].ID {
			t.Fatalf("claim %d = %+v, want trial %d (oldest first)", i, tr, queued[i].ID)
		}
		if tr.State != trials.TrialRunning || tr.Runner != "r1" || tr.Lease != 1 || tr.StartedAt == nil || tr.LeaseExpiresAt == nil {
			t.Errorf("claimed trial = %+v", tr)
		}
		if d := tr.LeaseExpiresAt.Sub(*tr.StartedAt); d != 45*time.Second {
			t.Errorf("lease runs %v after the start, want 45s", d)
		}
		if diff := cmp.Diff(queued[i].Params, tr.Params); diff != "" {
			t.Errorf("claimed params (-queued +claimed):\n%s", diff)
		}
	}
	tr, err := s.ClaimWaiting(ctx, st.ID, "r1", false)
	if tr != nil || err != nil {
		t.Errorf("ClaimWaiting with nothing waiting = %+v, %v; want nil, nil", tr, err)
	}

	// A paused study takes trials but hands none out.
	if _, err := s.SetStudyState(ctx, st.ID, trials.StudyPaused); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueTrial(ctx, st.ID, Params(16)); err != nil {
		t.Errorf("EnqueueTrial on a paused study: %v", err)
	}
	_, err = s.ClaimWaiting(ctx, st.ID, "r1", false)
	wantErr(t, err, trials.ErrConflict, "paused")
	_, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r1", false)
	wantErr(t, err, trials.ErrConflict, "paused")

	// A done study takes nothing.
	if _, err := s.SetStudyState(ctx, st.ID, trials.StudyDone); err != nil {
		t.Fatal(err)
	}
	_, err = s.EnqueueTrial(ctx, st.ID, Params(16))
	wantErr(t, err, trials.ErrConflict, "done")
	_, err = s.ClaimWaiting(ctx, st.ID, "r1", false)
	wantErr(t, err, trials.ErrConflict, "done")

	_, err = s.EnqueueTrial(ctx, 999, Params(16))
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
	_, err = s.ClaimWaiting(ctx, 999, "r1", false)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
	_, err = s.CreateRunning(ctx, 999, Params(16), nil, trials.OriginRandom, "r1", false)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
}

func (su suite) testMaxTrialsAndMaxParallel(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "capped", func(st *trials.Study) { st.MaxTrials, st.MaxParallel = 3, 1 })

	first, err := s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if first.Number != 0 || first.Lease != 1 {
		t.Errorf("first trial: number %d, lease %d; want 0 and 1", first.Number, first.Lease)
	}
	_, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r2", true)
	wantErr(t, err, trials.ErrConflict, "max_parallel")
	queued, err := s.EnqueueTrial(ctx, st.ID, Params(32))
	if err != nil {
		t.Fatal(err)
	}
	if tr, err := s.ClaimWaiting(ctx, st.ID, "r2", true); tr != nil || err != nil {
		t.Errorf("ClaimWaiting at max_parallel = %+v, %v; want nil, nil", tr, err)
	}
	// Without the limit, the cap on parallel trials does not apply.
	claimed, err := s.ClaimWaiting(ctx, st.ID, "r2", false)
	if err != nil || claimed == nil || claimed.ID != queued.ID {
		t.Fatalf("ClaimWaiting without limit = %+v, %v", claimed, err)
	}
	third := createRunning(t, s, st.ID, 48, "")
	if third.Number != 2 {
		t.Errorf("third trial number %d, want 2", third.Number)
	}
	_, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "", false)
	wantErr(t, err, trials.ErrConflict, "max_trials")
	_, err = s.EnqueueTrial(ctx, st.ID, Params(16))
	wantErr(t, err, trials.ErrConflict, "max_trials")
}

func (su suite) testListTrials(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "paged", nil)
	// 25 trials: numbers divisible by 3 complete, the rest running.
	for i := range 25 {
		tr := createRunning(t, s, st.ID, 16, "r1")
		if i%3 == 0 {
			tell(t, s, tr, trials.TrialComplete, float64(i))
		}
	}

	var numbers []int
	after := -1
	for pages := 0; ; pages++ {
		page, more, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if pages > 3 {
			t.Fatal("too many pages")
		}
		for _, tr := range page {
			numbers = append(numbers, tr.Number)
		}
		if wantMore := len(numbers) < 25; more != wantMore {
			t.Errorf("page %d: more = %v, want %v", pages, more, wantMore)
		}
		if !more {
			break
		}
		after = page[len(page)-1].Number
	}
	want := make([]int, 25)
	for i := range want {
		want[i] = i
	}
	if diff := cmp.Diff(want, numbers); diff != "" {
		t.Errorf("paged numbers (-want +got):\n%s", diff)
	}

	complete, more, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{State: trials.TrialComplete, AfterNumber: 3, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, tr := range complete {
		got = append(got, tr.Number)
		if tr.State != trials.TrialComplete {
			t.Errorf("trial %d in state %s", tr.Number, tr.State)
		}
	}
	if diff := cmp.Diff([]int{6, 9, 12}, got); diff != "" || !more {
		t.Errorf("complete page after 3 = %v (more %v), want [6 9 12] and more", got, more)
	}

	// Defaults: no limit means a full default page (100 > 25).
	all, more, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1})
	if err != nil || len(all) != 25 || more {
		t.Errorf("default page: %d trials, more %v, err %v", len(all), more, err)
	}
	none, more, err := s.ListTrials(ctx, st.ID, trials.TrialFilter{State: trials.TrialPruned, AfterNumber: -1})
	if err != nil || none == nil || len(none) != 0 || more {
		t.Errorf("no pruned trials: %v, %v, %v; want an empty slice", none, more, err)
	}
	_, _, err = s.ListTrials(ctx, st.ID, trials.TrialFilter{State: "bogus"})
	wantErr(t, err, trials.ErrInvalid, "bogus")
	_, _, err = s.ListTrials(ctx, 999, trials.TrialFilter{})
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")
}

func (su suite) testSummariesAndBest(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	minStudy := createStudy(t, s, "min", nil)
	maxStudy := createStudy(t, s, "max", func(st *trials.Study) { st.Objective.Direction = trials.Maximize })
	empty := createStudy(t, s, "empty", nil)

	var minIDs, maxIDs []int64
	for _, v := range []float64{0.5, 0.2, 0.9, 0.2} {
		minIDs = append(minIDs, tell(t, s, createRunning(t, s, minStudy.ID, 16, "r"), trials.TrialComplete, v).ID)
		maxIDs = append(maxIDs, tell(t, s, createRunning(t, s, maxStudy.ID, 16, "r"), trials.TrialComplete, v).ID)
	}
	// A pruned trial with a better value does not count as the best.
	pruned := createRunning(t, s, minStudy.ID, 16, "r")
	tell(t, s, pruned, trials.TrialPruned, 0.01)
	failed := createRunning(t, s, minStudy.ID, 16, "r")
	if _, err := s.Tell(ctx, failed.ID, nil, trials.Outcome{State: trials.TrialFailed, Error: "diverged"}); err != nil {
		t.Fatal(err)
	}
	createRunning(t, s, minStudy.ID, 16, "r")
	// Two running trials on one runner count it once; the plain ask/tell
	// client (no runner) counts as one more.
	createRunning(t, s, minStudy.ID, 16, "r")
	createRunning(t, s, minStudy.ID, 16, "")
	if _, err := s.EnqueueTrial(ctx, minStudy.ID, Params(16)); err != nil {
		t.Fatal(err)
	}

	sums, err := listStudies(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 3 || sums[0].ID != minStudy.ID || sums[1].ID != maxStudy.ID || sums[2].ID != empty.ID {
		t.Fatalf("ListStudies returned %d studies, not oldest first: %+v", len(sums), sums)
	}
	type view struct {
		Counts  map[trials.TrialState]int
		Best    *float64
		BestID  *int64
		Runners int
	}
	views := map[string]view{}
	for _, sum := range sums {
		views[sum.Name] = view{sum.Counts, sum.BestValue, sum.BestTrialID, sum.RunningRunners}
	}
	wantViews := map[string]view{
		// The earliest of two equal values wins.
		"min":   {map[trials.TrialState]int{"waiting": 1, "running": 3, "complete": 4, "pruned": 1, "failed": 1}, ptr(0.2), &minIDs[1], 2},
		"max":   {map[trials.TrialState]int{"waiting": 0, "running": 0, "complete": 4, "pruned": 0, "failed": 0}, ptr(0.9), &maxIDs[2], 0},
		"empty": {map[trials.TrialState]int{"waiting": 0, "running": 0, "complete": 0, "pruned": 0, "failed": 0}, nil, nil, 0},
	}
	if diff := cmp.Diff(wantViews, views); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	one, err := s.SummarizeStudy(ctx, maxStudy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sums[1], *one); diff != "" {
		t.Errorf("SummarizeStudy differs from ListStudies (-list +one):\n%s", diff)
	}
	_, err = s.SummarizeStudy(ctx, 999)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")

	best, err := s.BestTrial(ctx, minStudy.ID)
	if err != nil || best.ID != minIDs[1] {
		t.Errorf("BestTrial(min) = %+v, %v; want trial %d", best, err, minIDs[1])
	}
	best, err = s.BestTrial(ctx, maxStudy.ID)
	if err != nil || best.ID != maxIDs[2] {
		t.Errorf("BestTrial(max) = %+v, %v; want trial %d", best, err, maxIDs[2])
	}
	_, err = s.BestTrial(ctx, empty.ID)
	wantErr(t, err, trials.ErrNotFound, "no complete trial")
	_, err = s.BestTrial(ctx, 999)
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")

	if err := s.DeleteStudy(ctx, empty.ID); err != nil {
		t.Fatal(err)
	}
	if sums, err := listStudies(s); err != nil || len(sums) != 2 {
		t.Errorf("ListStudies after delete: %d studies, %v", len(sums), err)
	}
}

func (su suite) testListStudiesEmpty(t *testing.T) {
	s := su.open(t)
	sums, err := listStudies(s)
	if err != nil || sums == nil || len(sums) != 0 {
		t.Errorf("ListStudies on an empty database = %v, %v; want an empty slice", sums, err)
	}
}

func (su suite) testLeasableStudies(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	busy := createStudy(t, s, "busy", nil)
	idle := createStudy(t, s, "idle", nil)
	createStudy(t, s, "exec-only", func(st *trials.Study) { st.Workload = &trials.Workload{Type: "exec"} })
	createStudy(t, s, "no-workload", func(st *trials.Study) { st.Workload = nil })
	paused := createStudy(t, s, "paused", nil)
	if _, err := s.SetStudyState(ctx, paused.ID, trials.StudyPaused); err != nil {
		t.Fatal(err)
	}
	full := createStudy(t, s, "full", func(st *trials.Study) { st.MaxParallel = 1 })
	createRunning(t, s, full.ID, 16, "r")
	spent := createStudy(t, s, "spent", func(st *trials.Study) { st.MaxTrials = 1 })
	createRunning(t, s, spent.ID, 16, "r")
	// A study at max_trials with a trial waiting (requeued) still leases.
	queued := createStudy(t, s, "queued", func(st *trials.Study) { st.MaxTrials = 1 })
	if _, err := s.EnqueueTrial(ctx, queued.ID, Params(16)); err != nil {
		t.Fatal(err)
	}
	createRunning(t, s, busy.ID, 16, "r")
	createRunning(t, s, busy.ID, 16, "r")

	got, err := s.LeasableStudies(ctx, []string{"mnist", "other"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range got {
		names = append(names, st.Name)
	}
	// Fewest running first, then oldest.
	if diff := cmp.Diff([]string{"idle", "queued", "busy"}, names); diff != "" {
		t.Errorf("LeasableStudies (-want +got):\n%s", diff)
	}
	if got[0].ID != idle.ID || got[0].SearchSpace == nil || got[0].Workload == nil {
		t.Errorf("LeasableStudies returned an incomplete study: %+v", got[0])
	}
	none, err := s.LeasableStudies(ctx, nil)
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("LeasableStudies(nil) = %v, %v; want an empty slice", none, err)
	}
}

func (su suite) testAddTrial(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	st := createStudy(t, s, "import", func(st *trials.Study) { st.MaxTrials = 3 })

	started := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	finished := started.Add(90 * time.Second)
	want := trials.Trial{
		State:  trials.TrialComplete,
		Params: Params(32),
		Value:  ptr(0.25),
		Intermediate: []trials.Intermediate{
			{Step: 1, Value: 0.3, Metrics: map[string]float64{"samples_per_second": 900}},
			{Step: 0, Value: 0.5},
		},
		Metrics:    map[string]float64{"val_loss": 0.25, "wall_seconds": 90},
		Runner:     "old-box",
		Device:     "cuda:0",
		Attempt:    1,
		Origin:     trials.OriginCMAES,
		CreatedAt:  started.Add(-time.Minute),
		StartedAt:  &started,
		FinishedAt: &finished,
	}
	got, err := s.AddTrial(ctx, st.ID, want)
	if err != nil {
		t.Fatal(err)
	}
	// The curve comes back in step order, every point with its metrics map.
	want.Intermediate = []trials.Intermediate{
		{Step: 0, Value: 0.5, Metrics: map[string]float64{}},
		{Step: 1, Value: 0.3, Metrics: map[string]float64{"samples_per_second": 900}},
	}
	ignore := cmpopts.IgnoreFields(trials.Trial{}, "ID", "StudyID", "UpdatedAt", "SystemAttrs")
	if diff := cmp.Diff(want, *got, ignore); diff != "" {
		t.Errorf("AddTrial returned (-want +got):\n%s", diff)
	}
	if got.Number != 0 || got.StudyID != st.ID || got.Lease != 0 || got.LeaseExpiresAt != nil {
		t.Errorf("AddTrial = %+v; want number 0 of study %d, no lease", got, st.ID)
	}
	again, err := s.GetTrial(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("GetTrial after AddTrial (-added +read):\n%s", diff)
	}
	if best, err := s.BestTrial(ctx, st.ID); err != nil || best.ID != got.ID {
		t.Errorf("BestTrial = %+v, %v; want the added trial", best, err)
	}

	// Times default to the store's clock.
	pruned, err := s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16)})
	if err != nil {
		t.Fatal(err)
	}
	if pruned.Number != 1 || pruned.FinishedAt == nil || !near(*pruned.FinishedAt, time.Now(), time.Minute) ||
		!near(pruned.CreatedAt, time.Now(), time.Minute) || pruned.StartedAt != nil {
		t.Errorf("AddTrial without times = %+v", pruned)
	}

	for _, bad := range []struct {
		name  string
		trial trials.Trial
		frag  string
	}{
		{"waiting", trials.Trial{State: trials.TrialWaiting}, "state must be complete, pruned or failed"},
		{"complete without value", trials.Trial{State: trials.TrialComplete}, "needs a value"},
		{"duplicate step", trials.Trial{State: trials.TrialFailed, Intermediate: []trials.Intermediate{{Step: 2}, {Step: 2}}}, "step 2 is given twice"},
		{"negative step", trials.Trial{State: trials.TrialFailed, Intermediate: []trials.Intermediate{{Step: -1}}}, ">= 0"},
		{"times out of order", trials.Trial{State: trials.TrialFailed, StartedAt: &finished, FinishedAt: &started}, "before started_at"},
	} {
		_, err := s.AddTrial(ctx, st.ID, bad.trial)
		wantErr(t, err, trials.ErrInvalid, bad.frag)
	}
	_, err = s.AddTrial(ctx, 999, trials.Trial{State: trials.TrialPruned})
	wantErr(t, err, trials.ErrNotFound, "study 999 does not exist")

	// The third trial fills max_trials: with none left unfinished the
	// study is done, and takes nothing more.
	if _, err := s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialFailed, Params: Params(16), Error: "OOM"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetStudy(ctx, st.ID); err != nil || got.State != trials.StudyDone {
		t.Errorf("study after its last trial was added: %+v, %v; want done", got, err)
	}
	_, err = s.AddTrial(ctx, st.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16)})
	wantErr(t, err, trials.ErrConflict, "done")

	// Under max_trials with a trial still running, the study stays running.
	open := createStudy(t, s, "import-open", func(st *trials.Study) { st.MaxTrials = 2 })
	createRunning(t, s, open.ID, 16, "r")
	if _, err := s.AddTrial(ctx, open.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetStudy(ctx, open.ID); err != nil || got.State != trials.StudyRunning {
		t.Errorf("study with a running trial left: %+v, %v; want running", got, err)
	}
	_, err = s.AddTrial(ctx, open.ID, trials.Trial{State: trials.TrialPruned, Params: Params(16)})
	wantErr(t, err, trials.ErrConflict, "max_trials")
}
