package service

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

const defaultPageSize = 100

func (h *handlers) ListTrials(ctx context.Context, req openapi.ListTrialsRequestObject) (openapi.ListTrialsResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
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
	items, more, err := h.s.cfg.Store.ListTrials(ctx, s.ID, f)
	if err != nil {
		return nil, err
	}
	page := openapi.TrialPage{Items: make([]openapi.Trial, len(items))}
	for i := range items {
		page.Items[i] = trialToAPI(&items[i])
	}
	if more && len(items) > 0 {
		page.NextCursor = ptr(strconv.Itoa(items[len(items)-1].Number))
	}
	return openapi.ListTrials200JSONResponse(page), nil
}

func (h *handlers) EnqueueTrial(ctx context.Context, req openapi.EnqueueTrialRequestObject) (openapi.EnqueueTrialResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	params, err := s.SearchSpace.Decode(req.Body.Params)
	if err != nil {
		return nil, err
	}
	if b := req.Body; b.State != nil && *b.State != openapi.EnqueueRequestStateWaiting {
		rec := finishedTrialFromAPI(b, params)
		// As with a tell, a complete trial may carry its value as the
		// objective metric.
		if v, ok := rec.Metrics[s.Objective.Metric]; ok && rec.Value == nil && rec.State == trials.TrialComplete {
			rec.Value = &v
		}
		t, err := h.s.cfg.Store.AddTrial(ctx, s.ID, rec)
		if err != nil {
			return nil, err
		}
		h.s.cfg.Tuner.Observe(t)
		return openapi.EnqueueTrial201JSONResponse(trialToAPI(t)), nil
	}
	if f := resultFields(req.Body); len(f) > 0 {
		return nil, trials.Invalidf("%s only describe a finished trial: add \"state\": \"complete\", \"pruned\" or \"failed\", or leave them out to enqueue",
			strings.Join(f, ", "))
	}
	t, err := h.s.cfg.Store.EnqueueTrial(ctx, s.ID, params)
	if err != nil {
		return nil, err
	}
	h.s.cfg.Tuner.Observe(t)
	h.s.wake.broadcast()
	return openapi.EnqueueTrial201JSONResponse(trialToAPI(t)), nil
}

func (h *handlers) GetTrial(ctx context.Context, req openapi.GetTrialRequestObject) (openapi.GetTrialResponseObject, error) {
	t, err := h.s.cfg.Store.GetTrial(ctx, req.Trial)
	if err != nil {
		return nil, err
	}
	return openapi.GetTrial200JSONResponse(trialToAPI(t)), nil
}

func (h *handlers) Ask(ctx context.Context, req openapi.AskRequestObject) (openapi.AskResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if s.State != trials.StudyRunning {
		return nil, notRunning(s)
	}
	runner := ""
	if req.Body != nil {
		runner = deref(req.Body.Runner)
	}
	t, err := h.s.grant(ctx, s, runner, false)
	if err != nil {
		return nil, err
	}
	if t == nil {
		// Only leases limit parallelism, so an ask always gets a trial
		// unless the study is full, which grant reports as a conflict.
		return nil, trials.Conflictf("study %q has no trial to hand out", s.Name)
	}
	h.s.metrics.asks.Inc()
	return openapi.Ask201JSONResponse(trialToAPI(t)), nil
}

func notRunning(s *trials.Study) error {
	switch s.State {
	case trials.StudyPaused:
		return trials.Conflictf("study %q is paused; resume it (PATCH state=running) to get new trials", s.Name)
	default:
		return trials.Conflictf("study %q is %s; it hands out no more trials", s.Name, s.State)
	}
}

// grant hands out a trial of s: a waiting one first, else a new one with
// suggested params. It returns (nil, nil) only when limitParallel holds it
// back.
func (s *Server) grant(ctx context.Context, st *trials.Study, runner string, limitParallel bool) (*trials.Trial, error) {
	t, err := s.cfg.Store.ClaimWaiting(ctx, st.ID, runner, limitParallel)
	if err != nil || t != nil {
		if t != nil {
			s.cfg.Tuner.Observe(t)
		}
		return t, err
	}
	start := time.Now()
	prop, err := s.cfg.Tuner.Suggest(ctx, st)
	if err != nil {
		return nil, err
	}
	s.metrics.suggest.Observe(time.Since(start).Seconds())
	t, err = s.cfg.Store.CreateRunning(ctx, st.ID, prop.Params, runner, limitParallel)
	if err != nil {
		return nil, err
	}
	if len(prop.SystemAttrs) > 0 {
		// CMA-ES's generation bookkeeping: kept with the trial so that a
		// restarted service resumes the search where it was.
		if err := s.cfg.Store.SetSystemAttrs(ctx, t.ID, prop.SystemAttrs); err != nil {
			return nil, err
		}
		t.SystemAttrs = prop.SystemAttrs
	}
	s.cfg.Tuner.Observe(t)
	return t, nil
}

func (h *handlers) Tell(ctx context.Context, req openapi.TellRequestObject) (openapi.TellResponseObject, error) {
	// Only a complete tell without a value needs the study, to take the
	// value from its objective metric; the usual tell costs one write.
	objective := ""
	if req.Body.State == openapi.TellRequestStateComplete && req.Body.Value == nil {
		cur, err := h.s.cfg.Store.GetTrial(ctx, req.Trial)
		if err != nil {
			return nil, err
		}
		st, err := h.s.studies.get(ctx, cur.StudyID)
		if err != nil {
			return nil, err
		}
		objective = st.Objective.Metric
	}
	o, err := trials.Outcome{
		State:   trials.TrialState(req.Body.State),
		Value:   req.Body.Value,
		Metrics: metricsFromAPI(req.Body.Metrics),
		Error:   deref(req.Body.Error),
		Device:  deref(req.Body.Device),
	}.Normalize(objective)
	if err != nil {
		return nil, err
	}
	t, err := h.s.cfg.Store.Tell(ctx, req.Trial, req.Body.Lease, o)
	if err != nil {
		return nil, err
	}
	h.s.cfg.Tuner.Observe(t)
	h.s.metrics.tells.WithLabelValues(string(t.State)).Inc()
	// A finished trial frees a parallel slot for waiting runners.
	h.s.wake.broadcast()
	return openapi.Tell200JSONResponse(trialToAPI(t)), nil
}

func (h *handlers) Report(ctx context.Context, req openapi.ReportRequestObject) (openapi.ReportResponseObject, error) {
	b := req.Body
	if !trials.Finite(b.Value) {
		return nil, trials.Invalidf("value must be a finite number; report a diverged run by telling it failed")
	}
	point := trials.Intermediate{Step: b.Step, Value: b.Value, Metrics: metricsFromAPI(b.Metrics)}
	for k, v := range point.Metrics {
		if !trials.Finite(v) {
			return nil, trials.Invalidf("metric %q must be a finite number", k)
		}
	}
	t, err := h.s.cfg.Store.Report(ctx, req.Trial, b.Lease, point)
	if err != nil {
		return nil, err
	}
	h.s.cfg.Tuner.Observe(t)
	st, err := h.s.studies.get(ctx, t.StudyID)
	if err != nil {
		return nil, err
	}
	prune, attrs, err := h.s.cfg.Tuner.ShouldPrune(ctx, st, t)
	if err != nil {
		return nil, err
	}
	if len(attrs) > 0 {
		if err := h.s.cfg.Store.SetSystemAttrs(ctx, t.ID, attrs); err != nil {
			return nil, err
		}
	}
	return openapi.Report200JSONResponse{Prune: prune}, nil
}

func (h *handlers) Heartbeat(ctx context.Context, req openapi.HeartbeatRequestObject) (openapi.HeartbeatResponseObject, error) {
	var lease *int64
	if req.Body != nil {
		lease = req.Body.Lease
	}
	expires, stop, err := h.s.cfg.Store.Heartbeat(ctx, req.Trial, lease)
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
		{"runner", b.Runner != nil},
		{"device", b.Device != nil},
		{"attempt", b.Attempt != nil},
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
