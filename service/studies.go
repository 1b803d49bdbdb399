package service

import (
	"context"
	"errors"
	"strconv"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

func (h *handlers) CreateStudy(ctx context.Context, req openapi.CreateStudyRequestObject) (openapi.CreateStudyResponseObject, error) {
	created, err := h.b.CreateStudy(ctx, studyFromCreate(req.Body).WithDefaults())
	if err != nil {
		return nil, err
	}
	return openapi.CreateStudy201JSONResponse(studyToAPI(&trials.StudySummary{Study: *created, Counts: map[trials.TrialState]int{}})), nil
}

func (h *handlers) ListStudies(ctx context.Context, req openapi.ListStudiesRequestObject) (openapi.ListStudiesResponseObject, error) {
	f := trials.StudyFilter{Limit: defaultPageSize}
	if req.Params.Limit != nil {
		f.Limit = *req.Params.Limit
	}
	if c := req.Params.Cursor; c != nil && *c != "" {
		// The cursor is the last study id of the previous page; it is
		// opaque to clients but cheap to check.
		id, err := strconv.ParseInt(*c, 10, 64)
		if err != nil || id < 0 {
			return nil, trials.Invalidf("cursor %q is not one this server returned; pass next_cursor from the previous page", *c)
		}
		f.AfterID = id
	}
	sums, more, err := h.store.ListStudies(ctx, f)
	if err != nil {
		return nil, err
	}
	page := openapi.StudyPage{Items: make([]openapi.StudySummary, len(sums))}
	for i := range sums {
		page.Items[i] = studySummaryToAPI(&sums[i])
	}
	if more && len(sums) > 0 {
		page.NextCursor = ptr(strconv.FormatInt(sums[len(sums)-1].ID, 10))
	}
	return openapi.ListStudies200JSONResponse(page), nil
}

func (h *handlers) GetStudy(ctx context.Context, req openapi.GetStudyRequestObject) (openapi.GetStudyResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	sum, err := h.store.SummarizeStudy(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.GetStudy200JSONResponse(studyToAPI(sum)), nil
}

func (h *handlers) UpdateStudy(ctx context.Context, req openapi.UpdateStudyRequestObject) (openapi.UpdateStudyResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if err := h.b.SetStudyState(ctx, s, trials.StudyState(req.Body.State)); err != nil {
		return nil, err
	}
	sum, err := h.store.SummarizeStudy(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.UpdateStudy200JSONResponse(studyToAPI(sum)), nil
}

func (h *handlers) DeleteStudy(ctx context.Context, req openapi.DeleteStudyRequestObject) (openapi.DeleteStudyResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if err := h.b.DeleteStudy(ctx, s); err != nil {
		return nil, err
	}
	return openapi.DeleteStudy204Response{}, nil
}

// GetParetoFront answers the study's complete, feasible trials that no
// other such trial dominates (trials.Study.ParetoFront). It reads the
// complete trials a page of the store's largest size at a time: a few
// queries for thousands of trials, none per trial.
func (h *handlers) GetParetoFront(ctx context.Context, req openapi.GetParetoFrontRequestObject) (openapi.GetParetoFrontResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	done, err := h.completeTrials(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	front := s.ParetoFront(done)
	out := openapi.TrialList{Items: make([]openapi.Trial, len(front))}
	for i := range front {
		out.Items[i] = trialToAPI(&front[i], s)
	}
	return openapi.GetParetoFront200JSONResponse(out), nil
}

// GetBestTrial answers a single-objective study's best feasible complete
// trial. A multi-objective study has no single best: 409, pointing to its
// front.
func (h *handlers) GetBestTrial(ctx context.Context, req openapi.GetBestTrialRequestObject) (openapi.GetBestTrialResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if s.MultiObjective() {
		return nil, trials.Conflictf("study %q has %d objectives and no single best trial; GET /api/v1/studies/%d/pareto lists the trials no other beats on every objective",
			s.Name, len(s.Objectives), s.ID)
	}
	t, err := h.store.BestTrial(ctx, s.ID)
	if errors.Is(err, trials.ErrNotFound) && len(s.Constraints) > 0 {
		return nil, trials.NotFoundf("study %q has no complete trial that keeps every constraint yet", s.Name)
	}
	if err != nil {
		return nil, err
	}
	return openapi.GetBestTrial200JSONResponse(trialToAPI(t, s)), nil
}
