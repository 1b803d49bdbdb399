package service

import (
	"context"

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

func (h *handlers) ListStudies(ctx context.Context, _ openapi.ListStudiesRequestObject) (openapi.ListStudiesResponseObject, error) {
	sums, err := h.store.ListStudies(ctx)
	if err != nil {
		return nil, err
	}
	out := openapi.StudyList{Items: make([]openapi.Study, len(sums))}
	for i := range sums {
		out.Items[i] = studyToAPI(&sums[i])
	}
	return openapi.ListStudies200JSONResponse(out), nil
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

func (h *handlers) GetBestTrial(ctx context.Context, req openapi.GetBestTrialRequestObject) (openapi.GetBestTrialResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	t, err := h.store.BestTrial(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.GetBestTrial200JSONResponse(trialToAPI(t)), nil
}
