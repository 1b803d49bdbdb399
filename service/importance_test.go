package service_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

func TestParamImportanceOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.mustDo("POST", "/api/v1/studies", `{"name": "imp", "objective": {"metric": "loss"},
		"sampler": {"type": "random", "seed": 1},
		"search_space": {
			"learning_rate": {"type": "float", "low": 1e-5, "high": 1, "log": true},
			"batch_size": {"type": "int", "low": 16, "high": 1024, "log": true},
			"activation": {"type": "categorical", "choices": ["relu", "tanh"]}}}`, http.StatusCreated, nil)

	e.mustDo("GET", "/api/v1/studies/nope/importance", "", http.StatusNotFound, nil)
	e.mustDo("GET", "/api/v1/studies/imp/importance", "", http.StatusConflict, nil)

	for i := range 120 {
		tr := e.ask("imp")
		lr := math.Log10(tr.Params["learning_rate"].(float64))
		loss := (lr + 3) * (lr + 3)
		if i == 0 {
			// One complete trial is still too few.
			e.tell(tr.Id, fmt.Sprintf(`{"state": "complete", "value": %v}`, loss), http.StatusOK)
			e.mustDo("GET", "/api/v1/studies/imp/importance", "", http.StatusConflict, nil)
			continue
		}
		if i%10 == 0 {
			// Pruned trials do not count.
			e.tell(tr.Id, `{"state": "pruned"}`, http.StatusOK)
			continue
		}
		e.tell(tr.Id, fmt.Sprintf(`{"state": "complete", "value": %v}`, loss), http.StatusOK)
	}

	var imp openapi.ParamImportances
	e.mustDo("GET", "/api/v1/studies/imp/importance", "", http.StatusOK, &imp)
	if imp.Method != "ped-anova" || imp.TrialsUsed != 109 || len(imp.Importances) != 3 {
		t.Fatalf("importance = %+v, want ped-anova over 109 trials and 3 params", imp)
	}
	if imp.Importances[0].Param != "learning_rate" || imp.Importances[0].Importance < 0.6 {
		t.Errorf("importances = %+v, want learning_rate first and dominant", imp.Importances)
	}
	var byID openapi.ParamImportances
	var s openapi.Study
	e.mustDo("GET", "/api/v1/studies/imp", "", http.StatusOK, &s)
	e.mustDo("GET", fmt.Sprintf("/api/v1/studies/%d/importance", s.Id), "", http.StatusOK, &byID)
	if byID.Importances[0] != imp.Importances[0] {
		t.Errorf("by id %+v, by name %+v", byID.Importances[0], imp.Importances[0])
	}
}
