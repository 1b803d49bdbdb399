package service

import (
	"context"
	"time"

	"github.com/tune-dev/tune/broker"
	"github.com/tune-dev/tune/openapi"
)

func (h *handlers) AcquireLease(ctx context.Context, req openapi.AcquireLeaseRequestObject) (openapi.AcquireLeaseResponseObject, error) {
	wait := broker.DefaultLeaseWait
	if req.Body.WaitSeconds != nil {
		wait = time.Duration(*req.Body.WaitSeconds) * time.Second
	}
	var exclude []int64
	if req.Body.ExcludeStudies != nil {
		exclude = *req.Body.ExcludeStudies
	}
	g, err := h.b.Lease(ctx, runnerFromAPI(req.Body.Runner), wait, exclude)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return openapi.AcquireLease204Response{}, nil
	}
	out := openapi.LeaseGrant{
		Trial:        trialToAPI(g.Trial, &g.Study.Study),
		Study:        studyToAPI(g.Study),
		Lease:        g.Trial.Lease,
		LeaseSeconds: g.LeaseSeconds,
	}
	if g.Trial.LeaseExpiresAt != nil {
		out.LeaseExpiresAt = *g.Trial.LeaseExpiresAt
	}
	return openapi.AcquireLease200JSONResponse(out), nil
}
