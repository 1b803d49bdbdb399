package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/trials"
)

// BenchmarkAskTell measures one ask (CreateRunning) plus one tell, from
// parallel clients, on a study that already has 2,000 trials.
func BenchmarkAskTell(b *testing.B) {
	ctx := context.Background()
	s := pgtest.New(b)
	st, err := s.CreateStudy(ctx, storetest.Study("bench"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		tr, err := s.CreateRunning(ctx, st.ID, storetest.Params(16), nil, trials.OriginRandom, "r", false)
		if err != nil {
			b.Fatal(err)
		}
		v := float64(i)
		if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr, err := s.CreateRunning(ctx, st.ID, storetest.Params(16), nil, trials.OriginRandom, "r", true)
			if err != nil {
				b.Error(err)
				return
			}
			v := 1.0
			if _, err := s.Tell(ctx, tr.ID, &tr.Lease, trials.Outcome{State: trials.TrialComplete, Value: &v}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTrialsChangedSince measures the tuner's incremental refresh of a
// 2,000-trial history when a few trials changed.
func BenchmarkTrialsChangedSince(b *testing.B) {
	ctx := context.Background()
	s := pgtest.New(b)
	st, err := s.CreateStudy(ctx, storetest.Study("bench"))
	if err != nil {
		b.Fatal(err)
	}
	for range 2000 {
		if _, err := s.EnqueueTrial(ctx, st.ID, storetest.Params(16)); err != nil {
			b.Fatal(err)
		}
	}
	_, cursor, err := s.TrialsChangedSince(ctx, st.ID, 0)
	if err != nil {
		b.Fatal(err)
	}
	// Wait out transactions still running elsewhere on the server at that
	// read, which would make the delta repeat a few of the 2,000.
	for deadline := time.Now().Add(10 * time.Second); ; {
		changed, next, err := s.TrialsChangedSince(ctx, st.ID, cursor)
		if err != nil {
			b.Fatal(err)
		}
		if len(changed) == 0 {
			cursor = next
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d trials keep coming back", len(changed))
		}
		cursor = next
		time.Sleep(10 * time.Millisecond)
	}
	for range 5 {
		if _, err := s.ClaimWaiting(ctx, st.ID, "r", false); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		changed, _, err := s.TrialsChangedSince(ctx, st.ID, cursor)
		if err != nil || len(changed) != 5 {
			b.Fatal(len(changed), err)
		}
	}
}
