package service_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

const moGoals = `, "objectives": [{"metric": "val_accuracy", "direction": "maximize"}, {"metric": "seconds"}],
	"constraints": [{"metric": "val_accuracy", "min": 0.9}, {"metric": "peak_memory_bytes", "max": 2000000000}]`

func (e *env) createMOStudy(name string) openapi.Study {
	e.t.Helper()
	body := fmt.Sprintf(`{"name": %q, "search_space": %s%s}`, name, fiveKnobs, moGoals)
	var s openapi.Study
	e.mustDo("POST", "/api/v1/studies", body, http.StatusCreated, &s)
	return s
}

// problemDetail sends a request that must fail with want and returns the
// problem's detail.
func (e *env) problemDetail(method, path, body string, want int) string {
	e.t.Helper()
	var p openapi.Problem
	e.mustDo(method, path, body, want, &p)
	if p.Detail == nil {
		return ""
	}
	return *p.Detail
}

func TestCreateMultiObjectiveStudyRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	x := `"search_space": {"x": {"type": "float", "low": 0, "high": 1}}`
	for name, tc := range map[string]struct {
		body   string
		want   int
		detail string
	}{
		"both":          {`{"name":"s",` + x + `,"objective":{"metric":"loss"},"objectives":[{"metric":"a"},{"metric":"b"}]}`, 422, "not both"},
		"neither":       {`{"name":"s",` + x + `}`, 422, "objective or objectives is required"},
		"duplicate":     {`{"name":"s",` + x + `,"objectives":[{"metric":"a"},{"metric":"a","direction":"maximize"}]}`, 422, `"a" twice`},
		"one objective": {`{"name":"s",` + x + `,"objectives":[{"metric":"a"}]}`, 400, "objectives"},
		"min > max":     {`{"name":"s",` + x + `,"objective":{"metric":"loss"},"constraints":[{"metric":"m","min":2,"max":1}]}`, 422, "min 2 is above max 1"},
		"no bound":      {`{"name":"s",` + x + `,"objective":{"metric":"loss"},"constraints":[{"metric":"m"}]}`, 422, "needs min, max or both"},
		"cmaes":         {`{"name":"s",` + x + `,"objectives":[{"metric":"a"},{"metric":"b"}],"sampler":{"type":"cmaes"}}`, 422, "single objective"},
		"bad direction": {`{"name":"s",` + x + `,"objectives":[{"metric":"a"},{"metric":"b","direction":"up"}]}`, 400, "direction"},
	} {
		t.Run(name, func(t *testing.T) {
			if d := e.problemDetail("POST", "/api/v1/studies", tc.body, tc.want); !strings.Contains(d, tc.detail) {
				t.Errorf("detail %q does not say %q", d, tc.detail)
			}
		})
	}
}

func TestMultiObjectiveStudyOverHTTP(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		s := e.createMOStudy("mo")
		if s.Objective != nil || s.Objectives == nil || len(*s.Objectives) != 2 || *(*s.Objectives)[1].Direction != "minimize" ||
			s.Constraints == nil || len(*s.Constraints) != 2 {
			t.Fatalf("created study: objective %v objectives %v constraints %v", s.Objective, s.Objectives, s.Constraints)
		}

		// Tells that lack an objective or constraint metric are refused, naming it.
		tr := e.ask("mo")
		tellPath := fmt.Sprintf("/api/v1/trials/%d/tell", tr.Id)
		if d := e.problemDetail("POST", tellPath, `{"state":"complete","metrics":{"val_accuracy":0.95,"peak_memory_bytes":1}}`, 422); !strings.Contains(d, `"seconds"`) {
			t.Errorf("missing objective: detail %q", d)
		}
		if d := e.problemDetail("POST", tellPath, `{"state":"complete","metrics":{"val_accuracy":0.95,"seconds":1}}`, 422); !strings.Contains(d, `"peak_memory_bytes"`) {
			t.Errorf("missing constraint metric: detail %q", d)
		}
		if d := e.problemDetail("POST", tellPath, `{"state":"complete","value":1,"failure_kind":"oom","metrics":{"val_accuracy":1,"seconds":1,"peak_memory_bytes":1}}`, 422); !strings.Contains(d, "failed trials only") {
			t.Errorf("failure_kind on complete: detail %q", d)
		}
		e.problemDetail("POST", tellPath, `{"state":"failed","failure_kind":"meteor"}`, 400)

		// Trials: (acc, seconds, mem) -> expected front.
		results := []struct {
			acc, sec, mem float64
		}{
			{0.95, 30, 1e9}, // 0: front (most accurate feasible)
			{0.92, 10, 1e9}, // 1: front
			{0.91, 20, 1e9}, // 2: dominated by 1
			{0.99, 5, 3e9},  // 3: infeasible (memory), would dominate all
			{0.85, 1, 1e9},  // 4: infeasible (accuracy)
			{0.92, 10, 5e8}, // 5: equal to 1 on the objectives: stays
		}
		ids := make([]int64, len(results))
		for i, r := range results {
			if i > 0 {
				tr = e.ask("mo")
			}
			ids[i] = tr.Id
			got := e.tell(tr.Id, fmt.Sprintf(`{"state":"complete","metrics":{"val_accuracy":%v,"seconds":%v,"peak_memory_bytes":%v}}`, r.acc, r.sec, r.mem), 200)
			if got.Value == nil || *got.Value != r.acc || got.Values == nil || !slices.Equal(*got.Values, []float64{r.acc, r.sec}) {
				t.Errorf("trial %d: value %v values %v, want %v and [%v %v]", i, got.Value, got.Values, r.acc, r.acc, r.sec)
			}
			feasible := r.mem <= 2e9 && r.acc >= 0.9
			if got.Feasible == nil || *got.Feasible != feasible {
				t.Errorf("trial %d: feasible %v, want %v", i, got.Feasible, feasible)
			}
		}
		var one openapi.Trial
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", ids[4]), "", 200, &one)
		if one.Violations == nil || !slices.Equal(*one.Violations, []string{"val_accuracy >= 0.9 (is 0.85)"}) {
			t.Errorf("violations %v", one.Violations)
		}
		failed := e.ask("mo")
		if got := e.tell(failed.Id, `{"state":"failed","error":"CUDA out of memory","failure_kind":"oom"}`, 200); got.FailureKind == nil || *got.FailureKind != "oom" {
			t.Errorf("failure kind %v, want oom", got.FailureKind)
		}
		plain := e.ask("mo")
		if got := e.tell(plain.Id, `{"state":"failed","error":"boom"}`, 200); got.FailureKind == nil || *got.FailureKind != "error" {
			t.Errorf("failure kind %v, want error by default", got.FailureKind)
		}

		var front openapi.TrialList
		e.mustDo("GET", "/api/v1/studies/mo/pareto", "", 200, &front)
		var got []int64
		for _, f := range front.Items {
			got = append(got, f.Id)
		}
		if want := []int64{ids[0], ids[1], ids[5]}; !slices.Equal(got, want) {
			t.Errorf("front %v, want %v", got, want)
		}
		if d := e.problemDetail("GET", "/api/v1/studies/mo/best", "", 409); !strings.Contains(d, fmt.Sprintf("/studies/%d/pareto", s.Id)) {
			t.Errorf("best of a multi-objective study: detail %q", d)
		}
		var shown openapi.Study
		e.mustDo("GET", "/api/v1/studies/mo", "", 200, &shown)
		if shown.BestValue != nil || shown.BestTrialId != nil || shown.Objective != nil {
			t.Errorf("multi-objective study shows best %v/%v objective %v", shown.BestValue, shown.BestTrialId, shown.Objective)
		}
		var page openapi.StudyPage
		e.mustDo("GET", "/api/v1/studies", "", 200, &page)
		if len(page.Items) != 1 || page.Items[0].Objectives == nil || page.Items[0].Constraints == nil || page.Items[0].BestValue != nil {
			t.Errorf("summary: %+v", page.Items)
		}
		e.mustDo("GET", "/api/v1/studies/nope/pareto", "", 404, nil)

		// Records obey the tell's rules.
		e.problemDetail("POST", "/api/v1/studies/mo/trials",
			`{"state":"complete","params":{"learning_rate":0.01,"batch_size":32,"activation":"relu","precision":"float32","workers":1},"metrics":{"val_accuracy":0.9}}`, 422)
		var rec openapi.Trial
		e.mustDo("POST", "/api/v1/studies/mo/trials",
			`{"state":"failed","failure_kind":"diverged","params":{"learning_rate":0.9,"batch_size":32,"activation":"relu","precision":"float32","workers":1}}`, 201, &rec)
		if rec.FailureKind == nil || *rec.FailureKind != "diverged" {
			t.Errorf("recorded kind %v", rec.FailureKind)
		}
		if d := e.problemDetail("POST", "/api/v1/studies/mo/trials",
			`{"failure_kind":"oom","params":{"learning_rate":0.9,"batch_size":32,"activation":"relu","precision":"float32","workers":1}}`, 422); !strings.Contains(d, "failure_kind") {
			t.Errorf("enqueue with a kind: %q", d)
		}
	})
}

func TestConstrainedSingleObjectiveStudy(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("c", `, "constraints": [{"metric": "peak_memory_bytes", "max": 100}]`)
		var front openapi.TrialList
		e.mustDo("GET", "/api/v1/studies/c/pareto", "", 200, &front)
		if front.Items == nil || len(front.Items) != 0 {
			t.Errorf("front of an empty study: %+v", front.Items)
		}
		a := e.ask("c")
		if d := e.problemDetail("POST", fmt.Sprintf("/api/v1/trials/%d/tell", a.Id), `{"state":"complete","value":0.99}`, 422); !strings.Contains(d, `"peak_memory_bytes"`) {
			t.Errorf("detail %q", d)
		}
		e.tell(a.Id, `{"state":"complete","value":0.99,"metrics":{"peak_memory_bytes":500}}`, 200) // infeasible
		if d := e.problemDetail("GET", "/api/v1/studies/c/best", "", 404); !strings.Contains(d, "keeps every constraint") {
			t.Errorf("best with only infeasible trials: %q", d)
		}
		c := e.ask("c")
		e.tell(c.Id, `{"state":"complete","value":0.9,"metrics":{"peak_memory_bytes":50}}`, 200)
		var best openapi.Trial
		e.mustDo("GET", "/api/v1/studies/c/best", "", 200, &best)
		if best.Id != c.Id || best.Feasible == nil || !*best.Feasible || best.Values != nil {
			t.Errorf("best %d feasible %v values %v; want trial %d, feasible, no values", best.Id, best.Feasible, best.Values, c.Id)
		}
		e.mustDo("GET", "/api/v1/studies/c/pareto", "", 200, &front)
		if len(front.Items) != 1 || front.Items[0].Id != c.Id {
			t.Errorf("front %+v, want trial %d alone", front.Items, c.Id)
		}
		var s openapi.Study
		e.mustDo("GET", "/api/v1/studies/c", "", 200, &s)
		if s.BestTrialId == nil || *s.BestTrialId != c.Id {
			t.Errorf("study best %v, want %d", s.BestTrialId, c.Id)
		}
	})
}

// TestParetoFrontOfThousandsOfTrials: the front is read from every
// complete trial, across the store's pages.
func TestParetoFrontOfThousandsOfTrials(t *testing.T) {
	e := newEnvOn(t, backends[1].open(t))
	e.createMOStudy("big")
	const n = 2500
	var body strings.Builder
	for i := range n {
		body.Reset()
		// Accuracy grows with i and so do the seconds: every trial is on
		// the front except those that break the accuracy bound.
		fmt.Fprintf(&body, `{"state":"complete","params":{"learning_rate":0.01,"batch_size":32,"activation":"relu","precision":"float32","workers":1},"metrics":{"val_accuracy":%v,"seconds":%d,"peak_memory_bytes":1}}`,
			0.8+0.2*float64(i)/n, i)
		e.mustDo("POST", "/api/v1/studies/big/trials", body.String(), 201, nil)
	}
	var raw json.RawMessage
	e.mustDo("GET", "/api/v1/studies/big/pareto", "", 200, &raw)
	var front openapi.TrialList
	if err := json.Unmarshal(raw, &front); err != nil {
		t.Fatal(err)
	}
	if want := n / 2; len(front.Items) != want {
		t.Fatalf("front has %d trials, want %d", len(front.Items), want)
	}
	if first := front.Items[0]; first.Number != n-1 {
		t.Errorf("front starts with trial %d, want the most accurate, %d", first.Number, n-1)
	}
}
