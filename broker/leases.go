package broker

import (
	"context"
	"slices"
	"time"

	"github.com/tune-dev/tune/trials"
)

// DefaultLeaseWait is how long a lease request waits for work when it does
// not say.
const DefaultLeaseWait = 10 * time.Second

// Grant is a trial leased to a runner, with its study as it stands.
type Grant struct {
	Trial *trials.Trial
	Study *trials.StudySummary
	// LeaseSeconds is how long the lease lasts without a heartbeat.
	LeaseSeconds int
}

// Lease hands runner r a trial of any running study whose workload it can
// run, fairest study first, waiting up to wait (capped by MaxLeaseWait) for
// one to become available. It returns (nil, nil) when none did.
func (b *Broker) Lease(ctx context.Context, r trials.Runner, wait time.Duration, exclude []int64) (*Grant, error) {
	if len(r.Workloads) == 0 {
		return nil, trials.Invalidf("runner.workloads is empty: list the workload types this runner can run, e.g. [\"mnist-mlp\", \"exec\"]")
	}
	wait = min(wait, b.cfg.MaxLeaseWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(b.cfg.LeasePoll)
	defer poll.Stop()

	for {
		// Take the wake-up channel before looking, so that work added while
		// we look is not missed.
		woken := b.wake.wait()
		g, err := b.leaseOnce(ctx, r, exclude)
		if err != nil {
			return nil, err
		}
		if g != nil {
			b.metrics.Leased()
			b.log.Info("trial leased", "study", g.Study.Name, "trial", g.Trial.ID,
				"number", g.Trial.Number, "runner", r.ID, "lease", g.Trial.Lease, "attempt", g.Trial.Attempt)
			return g, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, nil
		case <-woken:
		case <-poll.C:
		}
	}
}

// leaseOnce tries every leasable study once, fairest first.
// leaseOnce tries every leasable study once, fairest first, but those the
// runner excludes (it backs off from studies whose trials keep failing).
func (b *Broker) leaseOnce(ctx context.Context, r trials.Runner, exclude []int64) (*Grant, error) {
	studies, err := b.store.LeasableStudies(ctx, r.Workloads)
	if err != nil {
		return nil, err
	}
	for i := range studies {
		st := &studies[i]
		if slices.Contains(exclude, st.ID) {
			continue
		}
		t, err := b.grant(ctx, st, r.ID, true)
		if trials.KindOf(err) == trials.KindConflict {
			// Another runner or replica took the last slot, or the study
			// was paused meanwhile: try the next study.
			continue
		}
		if err != nil {
			return nil, err
		}
		if t == nil {
			continue
		}
		sum, err := b.store.SummarizeStudy(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		return &Grant{Trial: t, Study: sum, LeaseSeconds: st.LeaseSeconds}, nil
	}
	return nil, nil
}
