package service

import (
	"context"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner/catalog"
	"github.com/tune-dev/tune/trials"
)

// workloads are the built-in workloads' declarations: a study whose space
// or options one of them would refuse at run time is refused at creation.
var workloads = catalog.Builtin()

func (h *handlers) CreateStudy(ctx context.Context, req openapi.CreateStudyRequestObject) (openapi.CreateStudyResponseObject, error) {
	s := studyFromCreate(req.Body).WithDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := s.ValidateWorkload(workloads); err != nil {
		return nil, err
	}
	created, err := h.s.cfg.Store.CreateStudy(ctx, s)
	if err != nil {
		return nil, err
	}
	h.s.log.Info("study created", "study", created.Name, "id", created.ID)
	h.s.wake.broadcast()
	return openapi.CreateStudy201JSONResponse(studyToAPI(&trials.StudySummary{Study: *created, Counts: map[trials.TrialState]int{}})), nil
}

func (h *handlers) ListStudies(ctx context.Context, _ openapi.ListStudiesRequestObject) (openapi.ListStudiesResponseObject, error) {
	sums, err := h.s.cfg.Store.ListStudies(ctx)
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
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	sum, err := h.s.cfg.Store.SummarizeStudy(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.GetStudy200JSONResponse(studyToAPI(sum)), nil
}

func (h *handlers) UpdateStudy(ctx context.Context, req openapi.UpdateStudyRequestObject) (openapi.UpdateStudyResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	state := trials.StudyState(req.Body.State)
	if _, err := h.s.cfg.Store.SetStudyState(ctx, s.ID, state); err != nil {
		return nil, err
	}
	h.s.log.Info("study state changed", "study", s.Name, "from", s.State, "to", state)
	if state == trials.StudyRunning {
		h.s.wake.broadcast()
	}
	sum, err := h.s.cfg.Store.SummarizeStudy(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.UpdateStudy200JSONResponse(studyToAPI(sum)), nil
}

func (h *handlers) DeleteStudy(ctx context.Context, req openapi.DeleteStudyRequestObject) (openapi.DeleteStudyResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	if err := h.s.cfg.Store.DeleteStudy(ctx, s.ID); err != nil {
		return nil, err
	}
	h.s.studies.forget(s.ID)
	h.s.cfg.Tuner.Forget(s.ID)
	h.s.log.Info("study deleted", "study", s.Name, "id", s.ID)
	return openapi.DeleteStudy204Response{}, nil
}

func (h *handlers) GetBestTrial(ctx context.Context, req openapi.GetBestTrialRequestObject) (openapi.GetBestTrialResponseObject, error) {
	s, err := h.s.studies.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	t, err := h.s.cfg.Store.BestTrial(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	return openapi.GetBestTrial200JSONResponse(trialToAPI(t)), nil
}
