package broker

import (
	"context"
	"time"

	"github.com/tune-dev/tune/trials"
)

// Enqueue adds a waiting trial with fixed params (checked against the
// study's space) for the next ask or lease to hand out.
func (b *Broker) Enqueue(ctx context.Context, s *trials.Study, params map[string]any) (*trials.Trial, error) {
	params, err := s.SearchSpace.Decode(params)
	if err != nil {
		return nil, err
	}
	t, err := b.store.EnqueueTrial(ctx, s.ID, params)
	if err != nil {
		return nil, err
	}
	b.tuner.Observe(t)
	b.wake.broadcast()
	return t, nil
}

// Record adds a trial that finished elsewhere (an import, a run made before
// the study existed). The rules of a tell apply (trials.Study.NormalizeRecord):
// a complete trial may carry its value as the objective metric, must carry
// its objective and constraint metrics, and a failed one gets a kind.
func (b *Broker) Record(ctx context.Context, s *trials.Study, rec trials.Trial) (*trials.Trial, error) {
	params, err := s.SearchSpace.Decode(rec.Params)
	if err != nil {
		return nil, err
	}
	rec.Params = params
	if err := s.NormalizeRecord(&rec); err != nil {
		return nil, err
	}
	t, err := b.store.AddTrial(ctx, s.ID, rec)
	if err != nil {
		return nil, err
	}
	b.tuner.Observe(t)
	return t, nil
}

// Ask hands out a trial of s to an ask/tell client (runner may be ""): a
// waiting one first, else a new one with suggested params. Only leases are
// held to max_parallel. ErrConflict when the study hands out no trial.
func (b *Broker) Ask(ctx context.Context, s *trials.Study, runner string) (*trials.Trial, error) {
	t, err := b.grant(ctx, s, runner, false)
	if err != nil {
		return nil, err
	}
	if t == nil {
		// The store creates a trial unless it refuses with a conflict; this
		// only guards the contract.
		return nil, trials.Conflictf("study %q has no trial to hand out", s.Name)
	}
	b.metrics.Asked()
	return t, nil
}

// grant hands out a trial of st: a waiting one first, else a new one with
// suggested params, its sampler attrs stored in the same write. It returns
// (nil, nil) only when limitParallel holds it back.
func (b *Broker) grant(ctx context.Context, st *trials.Study, runner string, limitParallel bool) (*trials.Trial, error) {
	t, err := b.store.ClaimWaiting(ctx, st.ID, runner, limitParallel)
	if err != nil || t != nil {
		if t != nil {
			b.tuner.Observe(t)
		}
		return t, err
	}
	start := time.Now()
	prop, err := b.tuner.Suggest(ctx, st)
	if err != nil {
		return nil, err
	}
	b.metrics.Suggested(time.Since(start))
	// CMA-ES's generation bookkeeping is kept with the trial so that a
	// restarted service resumes the search where it was.
	t, err = b.store.CreateRunning(ctx, st.ID, prop.Params, prop.SystemAttrs, prop.Origin, runner, limitParallel)
	if err != nil {
		// Refused (often: another runner took the last parallel slot), so
		// the proposal must stop counting as a running trial now.
		b.tuner.Release(prop.Handle)
		return nil, err
	}
	b.tuner.Bind(prop.Handle, t)
	return t, nil
}

// Report records the value (and metrics) at a step of a running trial and
// answers whether the study's pruner asks it to stop. The store refuses
// numbers that are not finite (trials.Intermediate.Validate).
func (b *Broker) Report(ctx context.Context, trialID int64, lease *int64, point trials.Intermediate) (prune bool, err error) {
	t, err := b.store.Report(ctx, trialID, lease, point)
	if err != nil {
		return false, err
	}
	b.tuner.Observe(t)
	st, err := b.studies.get(ctx, t.StudyID)
	if err != nil {
		return false, err
	}
	prune, attrs, err := b.tuner.ShouldPrune(ctx, st, t)
	if err != nil {
		return false, err
	}
	if len(attrs) > 0 {
		// Successive halving's rungs, kept with the trial.
		if err := b.store.SetSystemAttrs(ctx, t.ID, attrs); err != nil {
			return false, err
		}
	}
	return prune, nil
}

// Heartbeat extends a running trial's lease and says whether its study
// asks it to stop.
func (b *Broker) Heartbeat(ctx context.Context, trialID int64, lease *int64) (expires time.Time, stop bool, err error) {
	return b.store.Heartbeat(ctx, trialID, lease)
}

// Tell finishes a running trial, by the rules of trials.Outcome.Normalize:
// a complete outcome is read against its study's objectives and
// constraints, a failed one gets a kind.
func (b *Broker) Tell(ctx context.Context, trialID int64, lease *int64, o trials.Outcome) (*trials.Trial, error) {
	// Only a complete tell needs the study (cached), which costs a read of
	// the trial to learn it; a failed or pruned tell is one write.
	var st *trials.Study
	if o.State == trials.TrialComplete {
		cur, err := b.store.GetTrial(ctx, trialID)
		if err != nil {
			return nil, err
		}
		if st, err = b.studies.get(ctx, cur.StudyID); err != nil {
			return nil, err
		}
	}
	o, err := o.Normalize(st)
	if err != nil {
		return nil, err
	}
	t, err := b.store.Tell(ctx, trialID, lease, o)
	if err != nil {
		return nil, err
	}
	b.tuner.Observe(t)
	b.metrics.Told(t.State)
	// A finished trial frees a parallel slot for waiting runners.
	b.wake.broadcast()
	return t, nil
}
