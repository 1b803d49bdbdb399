package service

import (
	"context"
	"slices"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

const defaultLeaseWait = 10 * time.Second

func (h *handlers) AcquireLease(ctx context.Context, req openapi.AcquireLeaseRequestObject) (openapi.AcquireLeaseResponseObject, error) {
	r := runnerFromAPI(req.Body.Runner)
	if len(r.Workloads) == 0 {
		return nil, trials.Invalidf("runner.workloads is empty: list the workload types this runner can run, e.g. [\"mnist-mlp\", \"exec\"]")
	}
	var exclude []int64
	if req.Body.ExcludeStudies != nil {
		exclude = *req.Body.ExcludeStudies
	}
	wait := defaultLeaseWait
	if req.Body.WaitSeconds != nil {
		wait = time.Duration(*req.Body.WaitSeconds) * time.Second
	}
	wait = min(wait, h.s.cfg.MaxLeaseWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(h.s.cfg.LeasePoll)
	defer poll.Stop()

	for {
		// Take the wake-up channel before looking, so that work added while
		// we look is not missed.
		woken := h.s.wake.wait()
		grant, err := h.s.leaseOnce(ctx, r, exclude)
		if err != nil {
			return nil, err
		}
		if grant != nil {
			h.s.metrics.leases.Inc()
			h.s.log.Info("trial leased", "study", grant.Study.Name, "trial", grant.Trial.Id,
				"number", grant.Trial.Number, "runner", r.ID, "lease", grant.Lease, "attempt", grant.Trial.Attempt)
			return openapi.AcquireLease200JSONResponse(*grant), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return openapi.AcquireLease204Response{}, nil
		case <-woken:
		case <-poll.C:
		}
	}
}

// leaseOnce tries every leasable study once, fairest first, but those the
// runner excludes (it backs off from studies whose trials keep failing).
func (s *Server) leaseOnce(ctx context.Context, r trials.Runner, exclude []int64) (*openapi.LeaseGrant, error) {
	studies, err := s.cfg.Store.LeasableStudies(ctx, r.Workloads)
	if err != nil {
		return nil, err
	}
	for i := range studies {
		st := &studies[i]
		if slices.Contains(exclude, st.ID) {
			continue
		}
		t, err := s.grant(ctx, st, r.ID, true)
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
		sum, err := s.cfg.Store.SummarizeStudy(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		g := &openapi.LeaseGrant{
			Trial:        trialToAPI(t),
			Study:        studyToAPI(sum),
			Lease:        t.Lease,
			LeaseSeconds: st.LeaseSeconds,
		}
		if t.LeaseExpiresAt != nil {
			g.LeaseExpiresAt = *t.LeaseExpiresAt
		}
		return g, nil
	}
	return nil, nil
}
