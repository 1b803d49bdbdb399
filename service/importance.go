package service

import (
	"context"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// completeTrials reads every complete trial of a study, a page at a time
// (importance and the Pareto front need them all).
func (h *handlers) completeTrials(ctx context.Context, studyID int64) ([]trials.Trial, error) {
	var done []trials.Trial
	f := trials.TrialFilter{State: trials.TrialComplete, AfterNumber: -1, Limit: trials.MaxPageSize}
	for {
		page, more, err := h.store.ListTrials(ctx, studyID, f)
		if err != nil {
			return nil, err
		}
		done = append(done, page...)
		if !more || len(page) == 0 {
			return done, nil
		}
		f.AfterNumber = page[len(page)-1].Number
	}
}

func (h *handlers) GetParamImportance(ctx context.Context, req openapi.GetParamImportanceRequestObject) (openapi.GetParamImportanceResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	done, err := h.completeTrials(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	imp, err := tuner.Importance(s.SearchSpace, s.Goals()[0].Direction, done)
	if err != nil {
		return nil, err
	}
	out := openapi.ParamImportances{
		Method:      imp.Method,
		TrialsUsed:  imp.TrialsUsed,
		TopQuantile: imp.TopQuantile,
		Importances: make([]openapi.ParamImportance, len(imp.Importances)),
	}
	for i, pi := range imp.Importances {
		out.Importances[i] = openapi.ParamImportance{Param: pi.Param, Importance: pi.Importance}
	}
	return openapi.GetParamImportance200JSONResponse(out), nil
}
