package tuner

import (
	"context"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// inFlight counts the proposals that still count as running trials.
func inFlight(st *studyState) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pending)
}

// TestProposalsAreKnownByHandle: a proposal becomes the trial its caller
// binds it to, whatever other trial has the same params. Matched by params,
// an enqueued trial with a proposal's params took the proposal's place (and
// CMA-ES's attrs) before the proposal was even written, and of two
// identical proposals whose write failed one stayed "running" for minutes.
func TestProposalsAreKnownByHandle(t *testing.T) {
	ctx := context.Background()
	t.Run("an enqueued twin", func(t *testing.T) {
		space := trials.SearchSpace{
			"x": {Type: trials.Float, Low: 0, High: 1},
			"y": {Type: trials.Float, Low: 0, High: 1},
		}
		src := newMemSource()
		s := newStudy(1, trials.SamplerCMAES, space)
		tn := New(src)
		prop, err := tn.Suggest(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(prop.SystemAttrs) == 0 {
			t.Fatal("CMA-ES proposed no system attrs; the test needs some")
		}
		st := tn.state(s.ID)

		// Someone enqueues exactly those params and a runner claims the
		// trial before the proposal's own trial is written.
		twin := src.create(s.ID, prop.Params, trials.TrialWaiting)
		tn.Observe(&twin)
		twin = src.update(twin.ID, func(tr *trials.Trial) { tr.State = trials.TrialRunning })
		tn.Observe(&twin)
		if n := inFlight(st); n != 1 {
			t.Errorf("after an enqueued trial with the proposal's params arrived, %d proposals in flight, want 1", n)
		}
		if got := st.byID[twin.ID].frozen.SystemAttrs; len(got) != 0 {
			t.Errorf("the enqueued trial took the proposal's sampler attrs: %v", got)
		}

		tr := src.createWith(s.ID, prop.Params, prop.SystemAttrs, trials.TrialRunning)
		tn.Bind(prop.Handle, &tr)
		if n := inFlight(st); n != 0 {
			t.Errorf("after the proposal's trial was bound, %d proposals in flight, want 0", n)
		}
		for k, v := range prop.SystemAttrs {
			if got := st.byID[tr.ID].frozen.SystemAttrs[k]; got != v {
				t.Errorf("bound trial's system attr %q = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("identical proposals", func(t *testing.T) {
		// A single-valued space: every proposal has the same params.
		space := trials.SearchSpace{"n": {Type: trials.Int, Low: 3, High: 3}}
		src := newMemSource()
		s := newStudy(2, trials.SamplerTPE, space)
		tn := New(src)
		a, err := tn.Suggest(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tn.Suggest(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		st := tn.state(s.ID)
		// b is written first; a's write is refused (say, max_parallel).
		tr := src.createWith(s.ID, b.Params, b.SystemAttrs, trials.TrialRunning)
		tn.Bind(b.Handle, &tr)
		if n := inFlight(st); n != 1 {
			t.Errorf("with one of two proposals bound, %d in flight, want 1", n)
		}
		tn.Release(a.Handle)
		if n := inFlight(st); n != 0 {
			t.Errorf("with one proposal bound and the other released, %d in flight, want 0 (a ghost the constant liar counts)", n)
		}
		// Binding again, or releasing a bound proposal, changes nothing.
		tn.Release(b.Handle)
		tn.Bind(b.Handle, &tr)
		if n, ok := inFlight(st), len(st.order); n != 0 || ok != 1 {
			t.Errorf("after binding twice: %d in flight and %d cached trials, want 0 and 1", n, ok)
		}
	})
}
