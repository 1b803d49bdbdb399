package service_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

// A study the workload would refuse at run time is refused at creation,
// over HTTP on every store, with a detail that names the param or option
// and what is allowed.
func TestWorkloadKnobsRefusedAtCreation(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		study := func(space, workload string) string {
			return `{"name":"s","objective":{"metric":"val_accuracy","direction":"maximize"},"search_space":` + space + `,"workload":` + workload + `}`
		}
		mnist := `{"type":"mnist-mlp"}`
		exec := func(opts string) string { return `{"type":"exec","options":` + opts + `}` }
		anyParam := `{"x":{"type":"float","low":0,"high":1}}`
		cases := []struct {
			name, body string
			want       []string
		}{
			// Momentum >= 1 fails every trial at run time: the defect.
			{"momentum beyond 1", study(`{"momentum":{"type":"float","low":0.5,"high":5}}`, mnist), []string{`"momentum"`, "[0, 1)"}},
			{"momentum exactly 1", study(`{"momentum":{"type":"float","low":0,"high":1}}`, mnist), []string{`"momentum"`, "[0, 1)"}},
			{"momentum choice 1", study(`{"momentum":{"type":"categorical","choices":[0.5,1]}}`, mnist), []string{`"momentum"`, "[0, 1)"}},
			{"batch_size 0", study(`{"batch_size":{"type":"int","low":0,"high":64}}`, mnist), []string{`"batch_size"`, ">= 1"}},
			{"batch_size fractional choice", study(`{"batch_size":{"type":"categorical","choices":[32,48.5]}}`, mnist), []string{`"batch_size"`, "integer"}},
			{"epochs as a float", study(`{"epochs":{"type":"float","low":1,"high":4}}`, mnist), []string{`"epochs"`, "int"}},
			{"workers above batch_size", study(`{"workers":{"type":"int","low":1,"high":16},"batch_size":{"type":"int","low":8,"high":64}}`, mnist), []string{"workers", "batch_size"}},
			{"negative learning rate", study(`{"learning_rate":{"type":"float","low":-1,"high":1}}`, mnist), []string{`"learning_rate"`, ">= 0"}},
			{"unknown mnist option", study(`{"batch_size":{"type":"int","low":8,"high":64}}`, `{"type":"mnist-mlp","options":{"epoch":3}}`), []string{`"epoch"`, "train_samples"}},
			{"negative train_samples", study(`{"batch_size":{"type":"int","low":8,"high":64}}`, `{"type":"mnist-mlp","options":{"train_samples":-1}}`), []string{"train_samples", "negative"}},
			{"exec without command", study(anyParam, exec(`{}`)), []string{`"command"`}},
			{"exec command a string", study(anyParam, exec(`{"command":"python3 train.py"}`)), []string{"command", "list of strings"}},
			{"exec command empty", study(anyParam, exec(`{"command":[]}`)), []string{"command", "non-empty"}},
			{"exec command with a number", study(anyParam, exec(`{"command":["sleep",1]}`)), []string{"command", "element 1"}},
			{"exec command with an empty string", study(anyParam, exec(`{"command":[""]}`)), []string{"command", "empty"}},
			{"exec zero timeout", study(anyParam, exec(`{"command":["true"],"timeout_seconds":0}`)), []string{"timeout_seconds"}},
			{"exec string timeout", study(anyParam, exec(`{"command":["true"],"timeout_seconds":"60"}`)), []string{"timeout_seconds", "number"}},
			{"exec env a list", study(anyParam, exec(`{"command":["true"],"env":["A=1"]}`)), []string{"env"}},
			{"exec env bad name", study(anyParam, exec(`{"command":["true"],"env":{"A=B":"1"}}`)), []string{"env", `"A=B"`}},
			{"exec env object value", study(anyParam, exec(`{"command":["true"],"env":{"A":{}}}`)), []string{"env", "A"}},
			{"exec dir a number", study(anyParam, exec(`{"command":["true"],"dir":1}`)), []string{"dir", "string"}},
			{"exec misspelt option", study(anyParam, exec(`{"command":["true"],"timeout":60}`)), []string{`"timeout"`, "timeout_seconds"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var p openapi.Problem
				if got := e.do("POST", "/api/v1/studies", tc.body, &p); got != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", got)
				}
				for _, w := range tc.want {
					if p.Detail == nil || !strings.Contains(*p.Detail, w) {
						t.Errorf("detail %q lacks %q", deref(p.Detail), w)
					}
				}
			})
		}
		// What the workloads accept is still accepted; an unknown type
		// still takes anything.
		for name, body := range map[string]string{
			"momentum below 1":   study(`{"momentum":{"type":"float","low":0,"high":0.99}}`, mnist),
			"the five knobs":     study(fiveKnobs, mnist),
			"integral float":     study(`{"epochs":{"type":"float","low":1,"high":4,"step":1}}`, mnist),
			"mnist options":      study(`{"batch_size":{"type":"int","low":8,"high":64}}`, `{"type":"mnist-mlp","options":{"train_samples":512,"epochs":1,"seed":3}}`),
			"exec":               study(anyParam, exec(`{"command":["python3","train.py"],"timeout_seconds":90,"env":{"OMP_NUM_THREADS":4,"MODE":"fast"},"dir":"/tmp"}`)),
			"my own workload":    study(`{"momentum":{"type":"float","low":0.5,"high":5}}`, `{"type":"my-own","options":{"anything":[1]}}`),
			"no workload at all": `{"name":"s","objective":{"metric":"loss"},"search_space":{"momentum":{"type":"float","low":0.5,"high":5}}}`,
		} {
			var s openapi.Study
			body = strings.Replace(body, `"name":"s"`, `"name":`+jsonString(strings.ReplaceAll(name, " ", "-")), 1)
			if got := e.do("POST", "/api/v1/studies", body, &s); got != http.StatusCreated {
				t.Errorf("%s: status %d, want 201", name, got)
			}
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
