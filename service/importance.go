package service

import (
	"context"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// importancePage is the page size the importance handler reads complete
// trials with; the store caps pages at this size anyway.
const importancePage = 1000

func (h *handlers) GetParamImportance(ctx context.Context, req openapi.GetParamImportanceRequestObject) (openapi.GetParamImportanceResponseObject, error) {
	s, err := h.b.Study(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	var done []trials.Trial
	f := trials.TrialFilter{State: trials.TrialComplete, AfterNumber: -1, Limit: importancePage}
	for {
		page, more, err := h.store.ListTrials(ctx, s.ID, f)
		if err != nil {
			return nil, err
		}
		done = append(done, page...)
		if !more || len(page) == 0 {
			break
		}
		f.AfterNumber = page[len(page)-1].Number
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
