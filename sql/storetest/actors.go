package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// testActors: what a write creates carries the actor of its context
// (trials.WithActor) as CreatedBy, what it finishes as FinishedBy; a claim
// keeps the enqueuer, the reaper signs its failures, and every read shows
// the names as written.
func (su suite) testActors(t *testing.T) {
	s := su.open(t)
	alice := trials.WithActor(context.Background(), "alice")
	gpu := trials.WithActor(context.Background(), "gpu-box")

	st := Study("signed")
	st.MaxRetries, st.LeaseSeconds = 0, 60
	created, err := s.CreateStudy(alice, st)
	if err != nil {
		t.Fatal(err)
	}
	if created.CreatedBy != "alice" {
		t.Errorf("CreateStudy: created_by %q, want alice", created.CreatedBy)
	}
	for _, get := range []func() (*trials.Study, error){
		func() (*trials.Study, error) { return s.GetStudy(context.Background(), created.ID) },
		func() (*trials.Study, error) { return s.GetStudyByName(context.Background(), "signed") },
		func() (*trials.Study, error) {
			sum, err := s.SummarizeStudy(context.Background(), created.ID)
			if err != nil {
				return nil, err
			}
			return &sum.Study, nil
		},
	} {
		got, err := get()
		if err != nil || got.CreatedBy != "alice" {
			t.Errorf("study read back: %+v, %v; want created_by alice", got, err)
		}
	}

	// Enqueued by alice, claimed and told by the runner.
	queued, err := s.EnqueueTrial(alice, created.ID, Params(16))
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.ClaimWaiting(gpu, created.ID, "r1", true)
	if err != nil || claimed == nil {
		t.Fatalf("ClaimWaiting = %+v, %v", claimed, err)
	}
	if claimed.HeldBy != "gpu-box" || queued.HeldBy != "" {
		t.Errorf("held_by %q when queued, %q when claimed; want none, then gpu-box", queued.HeldBy, claimed.HeldBy)
	}
	if queued.CreatedBy != "alice" || claimed.CreatedBy != "alice" || claimed.FinishedBy != "" {
		t.Errorf("enqueued then claimed: created_by %q then %q, finished_by %q; want alice twice and none",
			queued.CreatedBy, claimed.CreatedBy, claimed.FinishedBy)
	}
	told, err := s.Tell(gpu, claimed.ID, &claimed.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	if told.CreatedBy != "alice" || told.FinishedBy != "gpu-box" {
		t.Errorf("told: created_by %q, finished_by %q; want alice, gpu-box", told.CreatedBy, told.FinishedBy)
	}
	// A retried tell by someone else changes nothing.
	again, err := s.Tell(alice, claimed.ID, &claimed.Lease, trials.Outcome{State: trials.TrialComplete, Value: ptr(0.5)})
	if err != nil || again.FinishedBy != "gpu-box" {
		t.Errorf("retold: %+v, %v; want finished_by gpu-box kept", again, err)
	}

	// Created by the runner, failed by the reaper.
	running, err := s.CreateRunning(gpu, created.ID, Params(32), nil, trials.OriginTPE, "r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if running.CreatedBy != "gpu-box" || running.HeldBy != "gpu-box" {
		t.Errorf("CreateRunning: created_by %q, held_by %q; want gpu-box twice", running.CreatedBy, running.HeldBy)
	}
	s.SetClockOffset(2 * time.Minute)
	if _, failed, err := s.ReapExpired(context.Background()); err != nil || failed != 1 {
		t.Fatalf("ReapExpired = %d failed, %v; want 1", failed, err)
	}
	reaped, err := s.GetTrial(context.Background(), running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if reaped.State != trials.TrialFailed || reaped.CreatedBy != "gpu-box" || reaped.FinishedBy != trials.ReaperActor {
		t.Errorf("reaped: %s, created_by %q, finished_by %q; want failed, gpu-box, %s",
			reaped.State, reaped.CreatedBy, reaped.FinishedBy, trials.ReaperActor)
	}

	// A recorded trial is created and finished by whoever recorded it.
	rec, err := s.AddTrial(alice, created.ID, trials.Trial{State: trials.TrialComplete, Params: Params(64), Value: ptr(0.7)})
	if err != nil {
		t.Fatal(err)
	}
	if rec.CreatedBy != "alice" || rec.FinishedBy != "alice" {
		t.Errorf("AddTrial: created_by %q, finished_by %q; want alice twice", rec.CreatedBy, rec.FinishedBy)
	}

	// Without an actor, nobody is named.
	anon, err := s.CreateRunning(context.Background(), created.ID, Params(128), nil, trials.OriginTPE, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if anon.CreatedBy != "" {
		t.Errorf("anonymous CreateRunning: created_by %q, want empty", anon.CreatedBy)
	}

	page, _, err := s.ListTrials(context.Background(), created.ID, trials.TrialFilter{AfterNumber: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][2]string{
		told.ID: {"alice", "gpu-box"}, reaped.ID: {"gpu-box", trials.ReaperActor},
		rec.ID: {"alice", "alice"}, anon.ID: {"", ""},
	}
	for _, tr := range page {
		if w, ok := want[tr.ID]; ok && (tr.CreatedBy != w[0] || tr.FinishedBy != w[1]) {
			t.Errorf("listed trial %d: created_by %q, finished_by %q; want %q, %q", tr.ID, tr.CreatedBy, tr.FinishedBy, w[0], w[1])
		}
	}
}
