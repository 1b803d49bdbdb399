package service

import (
	"context"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

const defaultPageSize = 100

func (h *handlers) ListTrials(ctx context.Context, req openapi.ListTrialsRequestObject) (openapi.ListTrialsResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	f := trials.TrialFilter{AfterNumber: -1, Limit: defaultPageSize}
	if req.Params.Limit != nil {
		f.Limit = *req.Params.Limit
	}
	if req.Params.State != nil {
		f.State = trials.TrialState(*req.Params.State)
	}
	if c := req.Params.Cursor; c != nil && *c != "" {
		// The cursor is the last trial number of the previous page; it is
		// opaque to clients but cheap to check.
		n, err := strconv.Atoi(*c)
		if err != nil || n < 0 {
			return nil, trials.Invalidf("cursor %q is not one this server returned; pass next_cursor from the previous page", *c)
		}
		f.AfterNumber = n
	}
	items, more, err := h.store.ListTrials(ctx, s.ID, f)
	if err != nil {
		return nil, err
	}
	page := openapi.TrialPage{Items: make([]openapi.Trial, len(items))}
	for i := range items {
		page.Items[i] = trialToAPI(&items[i], s)
	}
	if more && len(items) > 0 {
		page.NextCursor = ptr(strconv.Itoa(items[len(items)-1].Number))
	}
	return openapi.ListTrials200JSONResponse(page), nil
}

func (h *handlers) EnqueueTrial(ctx context.Context, req openapi.EnqueueTrialRequestObject) (openapi.EnqueueTrialResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if b := req.Body; b.State != nil && *b.State != openapi.EnqueueRequestStateWaiting {
		t, err := h.b.Record(ctx, s, finishedTrialFromAPI(b, b.Params))
		if err != nil {
			return nil, err
		}
		return openapi.EnqueueTrial201JSONResponse(trialToAPI(t, s)), nil
	}
	if f := resultFields(req.Body); len(f) > 0 {
		return nil, trials.Invalidf("%s only describe a finished trial: add \"state\": \"complete\", \"pruned\" or \"failed\", or leave them out to enqueue",
			strings.Join(f, ", "))
	}
	t, err := h.b.Enqueue(ctx, s, req.Body.Params)
	if err != nil {
		return nil, err
	}
	return openapi.EnqueueTrial201JSONResponse(trialToAPI(t, s)), nil
}

func (h *handlers) GetTrial(ctx context.Context, req openapi.GetTrialRequestObject) (openapi.GetTrialResponseObject, error) {
	t, err := h.store.GetTrial(ctx, req.Trial)
	if err != nil {
		return nil, err
	}
	s, err := h.b.StudyByID(ctx, t.StudyID)
	if err != nil {
		return nil, err
	}
	return openapi.GetTrial200JSONResponse(trialToAPI(t, s)), nil
}

func (h *handlers) Ask(ctx context.Context, req openapi.AskRequestObject) (openapi.AskResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	runner := ""
	if req.Body != nil {
		runner = deref(req.Body.Runner)
	}
	t, err := h.b.Ask(ctx, s, runner)
	if err != nil {
		return nil, err
	}
	return openapi.Ask201JSONResponse(trialToAPI(t, s)), nil
}

func (h *handlers) Tell(ctx context.Context, req openapi.TellRequestObject) (openapi.TellResponseObject, error) {
	t, err := h.b.Tell(ctx, req.Trial, req.Body.Lease, trials.Outcome{
		State:       trials.TrialState(req.Body.State),
		Value:       req.Body.Value,
		Metrics:     metricsFromAPI(req.Body.Metrics),
		Error:       deref(req.Body.Error),
		FailureKind: trials.FailureKind(deref(req.Body.FailureKind)),
		Device:      deref(req.Body.Device),
	})
	if err != nil {
		return nil, err
	}
	s, err := h.b.StudyByID(ctx, t.StudyID)
	if err != nil {
		return nil, err
	}
	return openapi.Tell200JSONResponse(trialToAPI(t, s)), nil
}

func (h *handlers) Report(ctx context.Context, req openapi.ReportRequestObject) (openapi.ReportResponseObject, error) {
	b := req.Body
	prune, err := h.b.Report(ctx, req.Trial, b.Lease,
		trials.Intermediate{Step: b.Step, Value: b.Value, Metrics: metricsFromAPI(b.Metrics), Profile: profileFromAPI(b.Profile)})
	if err != nil {
		return nil, err
	}
	return openapi.Report200JSONResponse{Prune: prune}, nil
}

func (h *handlers) Heartbeat(ctx context.Context, req openapi.HeartbeatRequestObject) (openapi.HeartbeatResponseObject, error) {
	var lease *int64
	if req.Body != nil {
		lease = req.Body.Lease
	}
	expires, stop, err := h.b.Heartbeat(ctx, req.Trial, lease)
	if err != nil {
		return nil, err
	}
	return openapi.Heartbeat200JSONResponse{LeaseExpiresAt: expires, Stop: stop}, nil
}

// resultFields names the fields of an enqueue request that only a finished
// trial can have, so that a waiting trial given a value is refused rather
// than the value silently dropped.
func resultFields(b *openapi.EnqueueRequest) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"value", b.Value != nil},
		{"intermediate_values", b.IntermediateValues != nil},
		{"metrics", b.Metrics != nil},
		{"error", b.Error != nil},
		{"failure_kind", b.FailureKind != nil},
		{"runner", b.Runner != nil},
		{"device", b.Device != nil},
		{"attempt", b.Attempt != nil},
		{"origin", b.Origin != nil},
		{"created_at", b.CreatedAt != nil},
		{"started_at", b.StartedAt != nil},
		{"finished_at", b.FinishedAt != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}
