package storetest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

const workers = 32

// run starts n goroutines running fn(i) and waits for them; the first error
// fails the test.
func run(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := fn(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// testConcurrentNumbersAndClaims races 32 goroutines on two stores, each
// creating trials and claiming enqueued ones, and checks that every trial is
// numbered once, without gaps, and claimed exactly once.
func (su suite) testConcurrentNumbersAndClaims(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	st := createStudy(t, a, "race", nil)
	const queued, perWorker = 64, 5
	for range queued {
		if _, err := a.EnqueueTrial(ctx, st.ID, Params(16)); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	created := map[int64]int{} // trial id -> number
	claimed := map[int64]int{} // trial id -> times claimed
	run(t, workers, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		for range perWorker {
			tr, err := s.CreateRunning(ctx, st.ID, Params(32), nil, trials.OriginRandom, "r", false)
			if err != nil {
				return err
			}
			mu.Lock()
			created[tr.ID] = tr.Number
			mu.Unlock()
			tr, err = s.ClaimWaiting(ctx, st.ID, "r", false)
			if err != nil {
				return err
			}
			if tr != nil {
				if tr.Lease != 1 || tr.State != trials.TrialRunning {
					return errors.New("claimed trial has the wrong lease or state")
				}
				mu.Lock()
				claimed[tr.ID]++
				mu.Unlock()
			}
		}
		return nil
	})

	if len(created) != workers*perWorker {
		t.Errorf("%d trials created, want %d", len(created), workers*perWorker)
	}
	// Claims: every enqueued trial once (there were fewer than claims).
	if len(claimed) != queued {
		t.Errorf("%d distinct trials claimed, want %d", len(claimed), queued)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("trial %d claimed %d times", id, n)
		}
		if _, ok := created[id]; ok {
			t.Errorf("claimed trial %d was created running", id)
		}
	}
	// Numbers: 0..N-1, each once, across enqueued and created trials.
	all, more, err := a.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1, Limit: 1000})
	if err != nil || more {
		t.Fatal(err, more)
	}
	if want := queued + workers*perWorker; len(all) != want {
		t.Fatalf("%d trials stored, want %d", len(all), want)
	}
	for i, tr := range all {
		if tr.Number != i {
			t.Fatalf("trial at position %d has number %d: numbers are not gapless", i, tr.Number)
		}
		if tr.State != trials.TrialRunning {
			t.Errorf("trial %d is %s, want running", tr.Number, tr.State)
		}
		if n, ok := created[tr.ID]; ok && n != tr.Number {
			t.Errorf("trial %d returned number %d, stored %d", tr.ID, n, tr.Number)
		}
	}
}

// testConcurrentMaxTrials checks the cap holds when 32 goroutines on two
// stores create and enqueue trials at once.
func (su suite) testConcurrentMaxTrials(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	const maxTrials = 50
	st := createStudy(t, a, "capped-race", func(st *trials.Study) { st.MaxTrials = maxTrials })
	var got atomic.Int64
	run(t, workers, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		for {
			var err error
			if i%3 == 0 {
				_, err = s.EnqueueTrial(ctx, st.ID, Params(16))
			} else {
				_, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r", false)
			}
			if errors.Is(err, trials.ErrConflict) {
				return nil
			}
			if err != nil {
				return err
			}
			got.Add(1)
		}
	})
	if got.Load() != maxTrials {
		t.Errorf("%d trials accepted, want %d", got.Load(), maxTrials)
	}
	sum, err := a.SummarizeStudy(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Counts[trials.TrialWaiting] + sum.Counts[trials.TrialRunning]; n != maxTrials {
		t.Errorf("%d trials stored, want %d", n, maxTrials)
	}
}

// testConcurrentMaxParallel has 32 goroutines on two stores take trials
// (new and enqueued) with limitParallel and finish them, and checks that no
// more than MaxParallel ran at once; the last tell makes the study done.
func (su suite) testConcurrentMaxParallel(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	const maxParallel, maxTrials = 3, 120
	st := createStudy(t, a, "parallel-race", func(st *trials.Study) {
		st.MaxParallel, st.MaxTrials = maxParallel, maxTrials
	})
	for range maxTrials / 2 {
		if _, err := a.EnqueueTrial(ctx, st.ID, Params(16)); err != nil {
			t.Fatal(err)
		}
	}
	// held counts trials between their grant and their tell. It is raised
	// after the store granted and lowered before the tell, so it never
	// exceeds what the database counts as running.
	var held, peak, finished atomic.Int64
	run(t, workers, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		for finished.Load() < maxTrials {
			tr, err := s.ClaimWaiting(ctx, st.ID, "r", true)
			if err == nil && tr == nil {
				tr, err = s.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r", true)
			}
			if errors.Is(err, trials.ErrConflict) {
				time.Sleep(time.Millisecond) // at max_parallel, max_trials, or done
				continue
			}
			if err != nil {
				return err
			}
			n := held.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			// Run a little while, so that others queue up for the slot.
			time.Sleep(2 * time.Millisecond)
			held.Add(-1)
			v := float64(tr.Number)
			if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
				return err
			}
			finished.Add(1)
		}
		return nil
	})
	if p := peak.Load(); p > maxParallel {
		t.Errorf("%d trials ran at once, max_parallel is %d", p, maxParallel)
	}
	sum, err := a.SummarizeStudy(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts[trials.TrialComplete] != maxTrials || sum.State != trials.StudyDone {
		t.Errorf("study %s with counts %v; want done with %d complete", sum.State, sum.Counts, maxTrials)
	}
}

// testConcurrentLastTells finishes the last trials of a capped study from
// many goroutines at once: exactly when all are told, the study is done.
func (su suite) testConcurrentLastTells(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	for round := range 5 {
		st := createStudy(t, a, "last-"+string(rune('a'+round)), func(st *trials.Study) { st.MaxTrials = workers })
		var trs []*trials.Trial
		for range workers {
			trs = append(trs, createRunning(t, a, st.ID, 16, "r"))
		}
		run(t, workers, func(i int) error {
			s := a
			if i%2 == 1 {
				s = b
			}
			v := float64(i)
			_, err := s.Tell(ctx, trs[i].ID, &trs[i].Lease, trials.Outcome{State: trials.TrialComplete, Value: &v})
			return err
		})
		if got, err := a.GetStudy(ctx, st.ID); err != nil || got.State != trials.StudyDone {
			t.Fatalf("round %d: study %v (%v) after all tells, want done", round, got.State, err)
		}
	}
}

// testConcurrentReapers runs two reapers at once, one per store, over many
// expired trials: each trial is reaped exactly once.
func (su suite) testConcurrentReapers(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	const n = 40
	retrying := createStudy(t, a, "retrying", func(st *trials.Study) { st.MaxRetries = 3 })
	final := createStudy(t, a, "final", func(st *trials.Study) { st.MaxTrials = n })
	for range n {
		createRunning(t, a, retrying.ID, 16, "r")
		createRunning(t, a, final.ID, 16, "r")
	}
	a.SetClockOffset(2 * time.Minute)
	b.SetClockOffset(2 * time.Minute)

	var requeued, failed atomic.Int64
	run(t, 8, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		r, f, err := s.ReapExpired(ctx)
		requeued.Add(int64(r))
		failed.Add(int64(f))
		return err
	})
	if requeued.Load() != n || failed.Load() != n {
		t.Errorf("reaped %d requeued and %d failed, want %d of each", requeued.Load(), failed.Load(), n)
	}
	for _, st := range []*trials.Study{retrying, final} {
		all, _, err := a.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range all {
			if tr.Attempt != 1 {
				t.Errorf("study %s: trial %d has attempt %d, want 1 (reaped once)", st.Name, tr.Number, tr.Attempt)
			}
		}
	}
	if got, _ := a.GetStudy(ctx, final.ID); got.State != trials.StudyDone {
		t.Errorf("study with every trial failed is %s, want done", got.State)
	}
}

// testConcurrentReportsAndHeartbeats interleaves reports, heartbeats and
// system attrs on one trial from many goroutines: no update is lost.
func (su suite) testConcurrentReportsAndHeartbeats(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	st := createStudy(t, a, "busy-trial", nil)
	tr := createRunning(t, a, st.ID, 16, "r")
	run(t, workers, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		if _, err := s.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: i, Value: float64(i)}); err != nil {
			return err
		}
		if _, _, err := s.Heartbeat(ctx, tr.ID, &tr.Lease); err != nil {
			return err
		}
		return s.SetSystemAttrs(ctx, tr.ID, map[string]string{string(rune('a' + i)): "x"})
	})
	got, err := a.GetTrial(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Intermediate) != workers || len(got.SystemAttrs) != workers {
		t.Fatalf("%d points and %d attrs, want %d of each", len(got.Intermediate), len(got.SystemAttrs), workers)
	}
	if !sort.SliceIsSorted(got.Intermediate, func(i, j int) bool { return got.Intermediate[i].Step < got.Intermediate[j].Step }) {
		t.Error("points are not in step order")
	}
}

// testTrialsChangedSinceMissesNothing follows a study's cursor while 32
// goroutines on another store create, report and tell trials, then reads
// once more after they stop: the trials as the reader assembled them from
// its deltas are the trials as stored.
func (su suite) testTrialsChangedSinceMissesNothing(t *testing.T) {
	ctx := context.Background()
	a, b := su.pair(t)
	st := createStudy(t, a, "follow", nil)

	type version struct {
		state trials.TrialState
		steps int
		attrs string
	}
	seen := map[int64]version{}
	var cursor int64
	read := func() error {
		changed, next, err := b.TrialsChangedSince(ctx, st.ID, cursor)
		if err != nil {
			return err
		}
		for _, tr := range changed {
			seen[tr.ID] = version{tr.State, len(tr.Intermediate), tr.SystemAttrs["n"]}
		}
		cursor = next
		return nil
	}

	var stop atomic.Bool
	defer stop.Store(true)
	done := make(chan error, 1)
	reads := 0
	go func() {
		for !stop.Load() {
			if err := read(); err != nil {
				done <- err
				return
			}
			reads++
		}
		done <- nil
	}()
	run(t, workers, func(i int) error {
		for j := range 5 {
			tr, err := a.CreateRunning(ctx, st.ID, Params(16), nil, trials.OriginRandom, "r", false)
			if err != nil {
				return err
			}
			for step := range 3 {
				if _, err := a.Report(ctx, tr.ID, &tr.Lease, trials.Intermediate{Step: step, Value: 1}); err != nil {
					return err
				}
			}
			if err := a.SetSystemAttrs(ctx, tr.ID, map[string]string{"n": string(rune('a' + j))}); err != nil {
				return err
			}
			if j%2 == 0 {
				v := float64(i)
				if _, err := a.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}

	stored, _, err := a.ListTrials(ctx, st.ID, trials.TrialFilter{AfterNumber: -1, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != workers*5 || len(seen) != len(stored) {
		t.Fatalf("reader saw %d trials, %d stored; want %d", len(seen), len(stored), workers*5)
	}
	for _, tr := range stored {
		want := version{tr.State, len(tr.Intermediate), tr.SystemAttrs["n"]}
		if got := seen[tr.ID]; got != want {
			t.Errorf("trial %d: reader has %+v, store %+v", tr.ID, got, want)
		}
	}
	t.Logf("%d reads during the writes", reads)
}
