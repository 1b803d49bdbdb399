package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/tuner"
)

// env is one real server on a fresh database.
type env struct {
	t      *testing.T
	store  storetest.Store
	url    string
	client *openapi.ClientWithResponses
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, pgtest.New(t))
}

// backend is a kind of store the service runs on.
type backend struct {
	name string
	// replicas returns n stores on one fresh, migrated database, as n
	// service replicas (or, for SQLite, n processes sharing a data dir)
	// would have; they are closed when the test ends.
	replicas func(t *testing.T, n int) []storetest.Store
}

// open returns one store on a fresh, migrated database.
func (b backend) open(t *testing.T) storetest.Store {
	t.Helper()
	return b.replicas(t, 1)[0]
}

var backends = []backend{
	{"postgres", func(t *testing.T, n int) []storetest.Store {
		url := pgtest.URL(t)
		var out []storetest.Store
		for range n {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			out = append(out, s)
		}
		return out
	}},
	{"sqlite", func(t *testing.T, n int) []storetest.Store {
		path := filepath.Join(t.TempDir(), "tune.db")
		var out []storetest.Store
		for range n {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}},
}

// onEveryStore runs fn as a subtest per backend, so that the API is proven
// on every store the service can be given.
func onEveryStore(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func newEnvOn(t *testing.T, store storetest.Store) *env {
	t.Helper()
	srv, err := service.New(service.Config{
		Store:        store,
		Tuner:        tuner.New(store),
		ReapInterval: 50 * time.Millisecond,
		LeasePoll:    100 * time.Millisecond,
		MaxBodyBytes: 64 << 10,
		Insecure:     true, // auth has its own tests (auth_test.go)
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := openapi.NewClientWithResponses(ts.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, url: ts.URL, client: c}
}

// do sends raw JSON and decodes the answer into out (when not nil). It
// returns the status and, for errors, checks the problem+json shape.
func (e *env) do(method, path, body string, out any) int {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			e.t.Errorf("%s %s: %d with content type %q, want problem+json: %s", method, path, resp.StatusCode, ct, raw)
		}
		var p openapi.Problem
		if err := json.Unmarshal(raw, &p); err != nil || p.Status != resp.StatusCode || p.Detail == nil || *p.Detail == "" {
			e.t.Errorf("%s %s: malformed problem %s", method, path, raw)
		}
		if resp.StatusCode >= 500 {
			e.t.Errorf("%s %s: server error %d: %s", method, path, resp.StatusCode, raw)
		}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (e *env) mustDo(method, path, body string, want int, out any) {
	e.t.Helper()
	if got := e.do(method, path, body, out); got != want {
		e.t.Fatalf("%s %s = %d, want %d", method, path, got, want)
	}
}

const fiveKnobs = `{
  "learning_rate": {"type": "float", "low": 1e-5, "high": 1.0, "log": true},
  "batch_size":    {"type": "int", "low": 16, "high": 1024, "log": true},
  "activation":    {"type": "categorical", "choices": ["relu", "tanh", "sigmoid", "leaky_relu"]},
  "precision":     {"type": "categorical", "choices": ["float32", "float64"]},
  "workers":       {"type": "int", "low": 1, "high": 8}
}`

func (e *env) createStudy(name, extra string) openapi.Study {
	e.t.Helper()
	body := fmt.Sprintf(`{"name": %q, "objective": {"metric": "val_accuracy", "direction": "maximize"}, "search_space": %s%s}`, name, fiveKnobs, extra)
	var s openapi.Study
	e.mustDo("POST", "/api/v1/studies", body, http.StatusCreated, &s)
	return s
}

func (e *env) ask(study string) openapi.Trial {
	e.t.Helper()
	var tr openapi.Trial
	e.mustDo("POST", "/api/v1/studies/"+study+"/ask", "", http.StatusCreated, &tr)
	return tr
}

func (e *env) tell(id int64, body string, want int) openapi.Trial {
	e.t.Helper()
	var tr openapi.Trial
	e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/tell", id), body, want, &tr)
	return tr
}

func TestStudyLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		s := e.createStudy("mnist-speed", `, "max_trials": 10`)
		if s.Id == 0 || s.State != "running" || *s.Sampler.Type != "auto" || *s.Pruner.Type != "none" || s.LeaseSeconds != 60 || s.MaxRetries != 0 {
			t.Errorf("created study lacks defaults: %+v", s)
		}
		if d := s.SearchSpace["batch_size"]; d.Log == nil || !*d.Log || *d.Low != 16 {
			t.Errorf("batch_size distribution not kept: %+v", d)
		}
		e.mustDo("POST", "/api/v1/studies", fmt.Sprintf(`{"name":"mnist-speed","objective":{"metric":"m"},"search_space":%s}`, fiveKnobs), http.StatusConflict, nil)

		var byName, byID openapi.Study
		e.mustDo("GET", "/api/v1/studies/mnist-speed", "", http.StatusOK, &byName)
		e.mustDo("GET", fmt.Sprintf("/api/v1/studies/%d", s.Id), "", http.StatusOK, &byID)
		if byName.Id != s.Id || byID.Name != "mnist-speed" {
			t.Errorf("lookups disagree: %d %q", byName.Id, byID.Name)
		}

		tr := e.ask("mnist-speed")
		e.tell(tr.Id, `{"state":"complete","value":0.9}`, http.StatusOK)
		e.ask("mnist-speed")

		var list openapi.StudyPage
		e.mustDo("GET", "/api/v1/studies", "", http.StatusOK, &list)
		if len(list.Items) != 1 {
			t.Fatalf("list has %d studies", len(list.Items))
		}
		got := list.Items[0]
		if got.Counts.Complete != 1 || got.Counts.Running != 1 || got.BestValue == nil || *got.BestValue != 0.9 || *got.BestTrialId != tr.Id {
			t.Errorf("summary = %+v", got)
		}

		var paused openapi.Study
		e.mustDo("PATCH", "/api/v1/studies/mnist-speed", `{"state":"paused"}`, http.StatusOK, &paused)
		if paused.State != "paused" {
			t.Errorf("state after pause = %s", paused.State)
		}
		e.mustDo("POST", "/api/v1/studies/mnist-speed/ask", "", http.StatusConflict, nil)
		e.mustDo("PATCH", "/api/v1/studies/mnist-speed", `{"state":"running"}`, http.StatusOK, nil)
		e.ask("mnist-speed")
		e.mustDo("PATCH", "/api/v1/studies/mnist-speed", `{"state":"sleeping"}`, http.StatusBadRequest, nil)

		e.mustDo("DELETE", "/api/v1/studies/mnist-speed", "", http.StatusNoContent, nil)
		e.mustDo("GET", "/api/v1/studies/mnist-speed", "", http.StatusNotFound, nil)
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", tr.Id), "", http.StatusNotFound, nil)
		e.mustDo("DELETE", "/api/v1/studies/mnist-speed", "", http.StatusNotFound, nil)
	})
}

func TestCreateStudyRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	space := func(d string) string {
		return `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":` + d + `}}`
	}
	cases := []struct {
		name string
		body string
		want int
	}{
		{"malformed json", `{"name": "s",`, http.StatusBadRequest},
		{"not an object", `[1,2]`, http.StatusBadRequest},
		{"missing name", `{"objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}}}`, http.StatusBadRequest},
		{"missing space", `{"name":"s","objective":{"metric":"loss"}}`, http.StatusBadRequest},
		{"unknown field", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"max_trial":3}`, http.StatusBadRequest},
		{"wrong type", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":"zero","high":1}}}`, http.StatusBadRequest},
		{"bad direction", `{"name":"s","objective":{"metric":"loss","direction":"up"},"search_space":{"x":{"type":"float","low":0,"high":1}}}`, http.StatusBadRequest},
		{"empty space", `{"name":"s","objective":{"metric":"loss"},"search_space":{}}`, http.StatusUnprocessableEntity},
		{"low > high", space(`{"type":"float","low":2,"high":1}`), http.StatusUnprocessableEntity},
		{"log low 0", space(`{"type":"float","low":0,"high":1,"log":true}`), http.StatusUnprocessableEntity},
		{"int log low 0", space(`{"type":"int","low":0,"high":8,"log":true}`), http.StatusUnprocessableEntity},
		{"step 0", space(`{"type":"float","low":0,"high":1,"step":0}`), http.StatusUnprocessableEntity},
		{"empty choices", space(`{"type":"categorical","choices":[]}`), http.StatusUnprocessableEntity},
		{"unknown type", space(`{"type":"normal","low":0,"high":1}`), http.StatusUnprocessableEntity},
		{"huge number", space(`{"type":"float","low":0,"high":1e999}`), http.StatusBadRequest},
		{"digit name", `{"name":"42","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}}}`, http.StatusUnprocessableEntity},
		{"bad sampler", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"grid"}}`, http.StatusUnprocessableEntity},
		{"multivariate on gp", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"gp","multivariate":true}}`, http.StatusUnprocessableEntity},
		{"ei_candidates on auto", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"auto","ei_candidates":8}}`, http.StatusUnprocessableEntity},
		{"negative gp startup", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"gp","startup_trials":-1}}`, http.StatusUnprocessableEntity},
		{"sigma0 on gp", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"gp","sigma0":0.5}}`, http.StatusUnprocessableEntity},
		{"gp startup as a string", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"sampler":{"type":"gp","startup_trials":"ten"}}`, http.StatusBadRequest},
		{"bad pruner option", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"pruner":{"type":"successive_halving","reduction_factor":1}}`, http.StatusUnprocessableEntity},
		{"negative lease", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}},"lease_seconds":-5}`, http.StatusUnprocessableEntity},
		{"param the workload does not know", `{"name":"s","objective":{"metric":"loss"},"search_space":{"dropout":{"type":"float","low":0,"high":1}},"workload":{"type":"mnist-mlp"}}`, http.StatusUnprocessableEntity},
		{"activation the workload lacks", `{"name":"s","objective":{"metric":"loss"},"search_space":{"activation":{"type":"categorical","choices":["relu","swish"]}},"workload":{"type":"mnist-mlp"}}`, http.StatusUnprocessableEntity},
		{"oversized", `{"name":"s","objective":{"metric":"loss"},"search_space":{"x":{"type":"categorical","choices":["` + strings.Repeat("a", 100<<10) + `"]}}}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.do("POST", "/api/v1/studies", tc.body, nil); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
	var list openapi.StudyPage
	e.mustDo("GET", "/api/v1/studies", "", http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Errorf("rejected requests left %d studies behind", len(list.Items))
	}
}

func TestAskTell(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		e.mustDo("GET", "/api/v1/studies/s/best", "", http.StatusNotFound, nil)

		tr := e.ask("s")
		if tr.State != "running" || tr.Number != 0 || tr.Lease < 1 || tr.LeaseExpiresAt == nil || tr.StartedAt == nil {
			t.Errorf("asked trial = %+v", tr)
		}
		for _, name := range []string{"batch_size", "workers"} {
			v, ok := tr.Params[name].(float64)
			if !ok || v != float64(int64(v)) {
				t.Errorf("int param %s = %#v, want a JSON integer", name, tr.Params[name])
			}
		}
		bs := tr.Params["batch_size"].(float64)
		if bs < 16 || bs > 1024 {
			t.Errorf("batch_size %v out of range", bs)
		}

		// complete without a value: taken from the objective metric.
		done := e.tell(tr.Id, `{"state":"complete","device":"cuda:1","metrics":{"val_accuracy":0.91,"samples_per_second":1200}}`, http.StatusOK)
		if done.State != "complete" || done.Value == nil || *done.Value != 0.91 || done.FinishedAt == nil || done.Device != "cuda:1" {
			t.Errorf("told trial = %+v", done)
		}
		// The same tell again is fine; a different one is a conflict.
		e.tell(tr.Id, `{"state":"complete","metrics":{"val_accuracy":0.91,"samples_per_second":1200}}`, http.StatusOK)
		e.tell(tr.Id, `{"state":"complete","value":0.5}`, http.StatusConflict)
		e.tell(tr.Id, `{"state":"failed","error":"boom"}`, http.StatusConflict)

		var best openapi.Trial
		e.mustDo("GET", "/api/v1/studies/s/best", "", http.StatusOK, &best)
		if best.Id != tr.Id || best.Metrics["samples_per_second"] != 1200 {
			t.Errorf("best = %+v", best)
		}

		tr2 := e.ask("s")
		if tr2.Number != 1 {
			t.Errorf("second trial number = %d", tr2.Number)
		}
		e.tell(tr2.Id, `{"state":"complete"}`, http.StatusUnprocessableEntity)
		e.tell(tr2.Id, `{"state":"running"}`, http.StatusBadRequest)
		e.tell(tr2.Id, `{"state":"complete","value":"high"}`, http.StatusBadRequest)
		e.tell(tr2.Id, `{"state":"complete","value":1,"metrics":{"x":"y"}}`, http.StatusBadRequest)
		e.tell(tr2.Id, `{"state":"complete","value":1,"lease":999}`, http.StatusConflict)
		e.tell(tr2.Id, `{"state":"failed","error":"CUDA out of memory"}`, http.StatusOK)
		var got openapi.Trial
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", tr2.Id), "", http.StatusOK, &got)
		if got.State != "failed" || got.Error != "CUDA out of memory" {
			t.Errorf("failed trial = %+v", got)
		}

		tr3 := e.ask("s")
		e.tell(tr3.Id, `{"state":"pruned"}`, http.StatusOK)

		e.tell(999999, `{"state":"complete","value":1}`, http.StatusNotFound)
		e.tell(999999, `{"state":"complete","metrics":{"val_accuracy":1}}`, http.StatusNotFound)
		e.tell(999999, `{"state":"failed","error":"x"}`, http.StatusNotFound)
		e.mustDo("GET", "/api/v1/trials/abc", "", http.StatusBadRequest, nil)
		e.mustDo("GET", "/api/v1/trials/999999", "", http.StatusNotFound, nil)
		e.mustDo("POST", "/api/v1/studies/nope/ask", "", http.StatusNotFound, nil)
		e.mustDo("GET", "/api/v1/nothing-here", "", http.StatusNotFound, nil)
	})
}

func TestEnqueueIsHandedOutFirst(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		fixed := `{"params":{"learning_rate":0.001,"batch_size":128,"activation":"relu","precision":"float32","workers":2}}`
		var w openapi.Trial
		e.mustDo("POST", "/api/v1/studies/s/trials", fixed, http.StatusCreated, &w)
		if w.State != "waiting" || w.Number != 0 || w.StartedAt != nil {
			t.Errorf("enqueued = %+v", w)
		}
		tr := e.ask("s")
		if tr.Id != w.Id || tr.Params["batch_size"] != 128.0 || tr.Params["activation"] != "relu" {
			t.Errorf("ask did not hand out the enqueued trial: %+v", tr)
		}
		for name, body := range map[string]string{
			"missing param": `{"params":{"learning_rate":0.001}}`,
			"unknown param": `{"params":{"learning_rate":0.001,"batch_size":128,"activation":"relu","precision":"float32","workers":2,"dropout":0.1}}`,
			"out of range":  `{"params":{"learning_rate":5,"batch_size":128,"activation":"relu","precision":"float32","workers":2}}`,
			"not an int":    `{"params":{"learning_rate":0.001,"batch_size":128.5,"activation":"relu","precision":"float32","workers":2}}`,
			"bad choice":    `{"params":{"learning_rate":0.001,"batch_size":128,"activation":"gelu","precision":"float32","workers":2}}`,
		} {
			if got := e.do("POST", "/api/v1/studies/s/trials", body, nil); got != http.StatusUnprocessableEntity {
				t.Errorf("%s: status %d, want 422", name, got)
			}
		}
		e.mustDo("POST", "/api/v1/studies/s/trials", `{}`, http.StatusBadRequest, nil)
		// A waiting trial cannot be told.
		e.mustDo("POST", "/api/v1/studies/s/trials", fixed, http.StatusCreated, &w)
		e.tell(w.Id, `{"state":"complete","value":1}`, http.StatusConflict)
	})
}

func TestMaxTrialsEndsTheStudy(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", `, "max_trials": 3`)
		var ids []int64
		for range 3 {
			ids = append(ids, e.ask("s").Id)
		}
		e.mustDo("POST", "/api/v1/studies/s/ask", "", http.StatusConflict, nil)
		e.mustDo("POST", "/api/v1/studies/s/trials", `{"params":{"learning_rate":0.001,"batch_size":128,"activation":"relu","precision":"float32","workers":2}}`, http.StatusConflict, nil)
		for i, id := range ids {
			e.tell(id, fmt.Sprintf(`{"state":"complete","value":%d}`, i), http.StatusOK)
		}
		var s openapi.Study
		e.mustDo("GET", "/api/v1/studies/s", "", http.StatusOK, &s)
		if s.State != "done" || s.Counts.Complete != 3 || *s.BestValue != 2 {
			t.Errorf("study after its last trial = %+v", s)
		}
	})
}

func TestReportAndPrune(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", `, "pruner": {"type": "median", "startup_trials": 2, "warmup_steps": 1}`)
		report := func(id int64, step int, v float64) bool {
			t.Helper()
			var d openapi.PruneDecision
			e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/report", id), fmt.Sprintf(`{"step":%d,"value":%v,"metrics":{"samples_per_second":100}}`, step, v), http.StatusOK, &d)
			return d.Prune
		}
		for range 3 {
			tr := e.ask("s")
			for step := range 4 {
				if report(tr.Id, step, 0.8+0.03*float64(step)) {
					t.Fatalf("a good trial was pruned at step %d", step)
				}
			}
			e.tell(tr.Id, `{"state":"complete","value":0.89}`, http.StatusOK)
		}
		bad := e.ask("s")
		if report(bad.Id, 0, 0.1) {
			t.Error("pruned during warm-up")
		}
		if !report(bad.Id, 1, 0.1) {
			t.Error("a trial far below the median was not pruned")
		}
		var tr openapi.Trial
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", bad.Id), "", http.StatusOK, &tr)
		if len(tr.IntermediateValues) != 2 || tr.IntermediateValues[1].Step != 1 || tr.IntermediateValues[1].Value != 0.1 {
			t.Errorf("intermediate values = %+v", tr.IntermediateValues)
		}
		e.tell(bad.Id, `{"state":"pruned"}`, http.StatusOK)
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/report", bad.Id), `{"step":2,"value":0.5}`, http.StatusConflict, nil)
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/report", bad.Id), `{"step":-1,"value":0.5}`, http.StatusBadRequest, nil)
		e.mustDo("POST", "/api/v1/trials/999999/report", `{"step":1,"value":0.5}`, http.StatusNotFound, nil)
	})
}

func (e *env) lease(runnerID string, workloads []string, wait int) (*openapi.LeaseGrant, int) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"runner":       map[string]any{"id": runnerID, "host": "test", "workloads": workloads, "devices": []any{map[string]any{"kind": "cpu"}}},
		"wait_seconds": wait,
	})
	var g openapi.LeaseGrant
	status := e.do("POST", "/api/v1/leases", string(body), &g)
	if status != http.StatusOK {
		return nil, status
	}
	return &g, status
}

func TestLeasesAndExpiry(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", `, "workload": {"type": "mnist-mlp", "options": {"epochs": 3}}, "max_retries": 1, "lease_seconds": 30, "max_parallel": 1`)

		if g, status := e.lease("exec-only", []string{"exec"}, 0); status != http.StatusNoContent {
			t.Fatalf("a runner without the workload got %d %+v", status, g)
		}
		g, status := e.lease("r1", []string{"mnist-mlp"}, 1)
		if status != http.StatusOK {
			t.Fatalf("lease = %d", status)
		}
		if g.Study.Name != "s" || g.Study.Workload == nil || g.Study.Workload.Type != "mnist-mlp" || g.Study.Objective.Metric != "val_accuracy" ||
			g.Trial.Runner != "r1" || g.Lease != g.Trial.Lease || g.LeaseSeconds != 30 {
			t.Errorf("grant = %+v", g)
		}
		// max_parallel 1: nothing more for another runner.
		if _, status := e.lease("r2", []string{"mnist-mlp"}, 0); status != http.StatusNoContent {
			t.Errorf("max_parallel ignored: %d", status)
		}

		var ext openapi.LeaseExtension
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/heartbeat", g.Trial.Id), fmt.Sprintf(`{"lease":%d}`, g.Lease), http.StatusOK, &ext)
		if ext.Stop || !ext.LeaseExpiresAt.After(time.Now().Add(20*time.Second)) {
			t.Errorf("heartbeat = %+v", ext)
		}
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/heartbeat", g.Trial.Id), fmt.Sprintf(`{"lease":%d}`, g.Lease+7), http.StatusConflict, nil)
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/report", g.Trial.Id), fmt.Sprintf(`{"step":0,"value":0.5,"lease":%d}`, g.Lease), http.StatusOK, nil)

		// The runner dies: move the database clock past the lease and let the
		// reaper requeue the trial.
		e.store.SetClockOffset(31 * time.Second)
		requeued := e.waitTrial(g.Trial.Id, func(tr openapi.Trial) bool { return tr.State == "waiting" })
		if requeued.Attempt != 1 || fmt.Sprint(requeued.Params) != fmt.Sprint(g.Trial.Params) {
			t.Errorf("requeued trial = %+v", requeued)
		}
		// The dead runner's writes are refused and change nothing.
		e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/heartbeat", g.Trial.Id), fmt.Sprintf(`{"lease":%d}`, g.Lease), http.StatusConflict, nil)
		e.tell(g.Trial.Id, fmt.Sprintf(`{"state":"complete","value":0.9,"lease":%d}`, g.Lease), http.StatusConflict)

		g2, status := e.lease("r2", []string{"mnist-mlp", "exec"}, 1)
		if status != http.StatusOK {
			t.Fatalf("re-lease = %d", status)
		}
		if g2.Trial.Id != g.Trial.Id || g2.Lease <= g.Lease || fmt.Sprint(g2.Trial.Params) != fmt.Sprint(g.Trial.Params) {
			t.Errorf("second grant = %+v (first lease %d)", g2, g.Lease)
		}
		e.tell(g.Trial.Id, fmt.Sprintf(`{"state":"complete","value":0.9,"lease":%d}`, g.Lease), http.StatusConflict)

		// Out of retries: the next expiry fails the trial.
		e.store.SetClockOffset(62 * time.Second)
		failed := e.waitTrial(g.Trial.Id, func(tr openapi.Trial) bool { return tr.State == "failed" })
		if !strings.Contains(failed.Error, "lease") {
			t.Errorf("failed trial's error = %q", failed.Error)
		}
		e.tell(g.Trial.Id, fmt.Sprintf(`{"state":"complete","value":0.9,"lease":%d}`, g2.Lease), http.StatusConflict)
	})
}

// waitTrial polls until cond holds; the reaper runs every 50 ms here.
func (e *env) waitTrial(id int64, cond func(openapi.Trial) bool) openapi.Trial {
	e.t.Helper()
	var tr openapi.Trial
	for range 200 {
		e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", id), "", http.StatusOK, &tr)
		if cond(tr) {
			return tr
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatalf("trial %d never reached the expected state: %+v", id, tr)
	return tr
}

func TestLeaseLongPollWakesOnNewWork(t *testing.T) {
	e := newEnv(t)
	type result struct {
		g      *openapi.LeaseGrant
		status int
	}
	got := make(chan result, 1)
	go func() {
		g, status := e.lease("r1", []string{"exec"}, 30)
		got <- result{g, status}
	}()
	time.Sleep(200 * time.Millisecond)
	e.createStudy("later", `, "workload": {"type": "exec", "options": {"command": ["true"]}}`)
	select {
	case r := <-got:
		if r.status != http.StatusOK || r.g.Study.Name != "later" {
			t.Errorf("long poll answered %d %+v", r.status, r.g)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting lease request was not woken by the new study")
	}
}

func TestLeasesAreFairAcrossStudies(t *testing.T) {
	e := newEnv(t)
	e.createStudy("a", `, "workload": {"type": "exec", "options": {"command": ["true"]}}`)
	e.createStudy("b", `, "workload": {"type": "exec", "options": {"command": ["true"]}}`)
	seen := map[string]int{}
	for i := range 4 {
		g, status := e.lease(fmt.Sprintf("r%d", i), []string{"exec"}, 1)
		if status != http.StatusOK {
			t.Fatalf("lease %d = %d", i, status)
		}
		seen[g.Study.Name]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("leases per study = %v, want 2 each", seen)
	}
}

func TestStoppedStudyTellsRunnersToStop(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", "")
	tr := e.ask("s")
	e.mustDo("PATCH", "/api/v1/studies/s", `{"state":"done"}`, http.StatusOK, nil)
	var ext openapi.LeaseExtension
	e.mustDo("POST", fmt.Sprintf("/api/v1/trials/%d/heartbeat", tr.Id), "", http.StatusOK, &ext)
	if !ext.Stop {
		t.Error("heartbeat of a stopped study's trial did not say stop")
	}
	e.mustDo("POST", "/api/v1/studies/s/ask", "", http.StatusConflict, nil)
	e.tell(tr.Id, `{"state":"failed","error":"stopped"}`, http.StatusOK)
}

func TestListTrialsPages(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		for i := range 25 {
			tr := e.ask("s")
			if i%5 == 0 {
				e.tell(tr.Id, `{"state":"pruned"}`, http.StatusOK)
			} else {
				e.tell(tr.Id, fmt.Sprintf(`{"state":"complete","value":%d}`, i), http.StatusOK)
			}
		}
		var numbers []int
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			var p openapi.TrialPage
			path := "/api/v1/studies/s/trials?limit=10"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			e.mustDo("GET", path, "", http.StatusOK, &p)
			for _, tr := range p.Items {
				numbers = append(numbers, tr.Number)
			}
			if p.NextCursor == nil {
				break
			}
			cursor = *p.NextCursor
		}
		if len(numbers) != 25 || numbers[0] != 0 || numbers[24] != 24 {
			t.Errorf("paged numbers = %v", numbers)
		}
		var pruned openapi.TrialPage
		e.mustDo("GET", "/api/v1/studies/s/trials?state=pruned", "", http.StatusOK, &pruned)
		if len(pruned.Items) != 5 || pruned.NextCursor != nil {
			t.Errorf("pruned page = %d items, cursor %v", len(pruned.Items), pruned.NextCursor)
		}
		e.mustDo("GET", "/api/v1/studies/s/trials?state=lost", "", http.StatusBadRequest, nil)
		e.mustDo("GET", "/api/v1/studies/s/trials?limit=0", "", http.StatusBadRequest, nil)
		e.mustDo("GET", "/api/v1/studies/s/trials?cursor=xyz", "", http.StatusUnprocessableEntity, nil)
	})
}

// TestConcurrentAskTellTwoReplicas runs many clients against two servers
// that share one database (for SQLite, one file, as two processes would):
// every trial is accounted for exactly once.
func TestConcurrentAskTellTwoReplicas(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		var envs []*env
		for _, store := range b.replicas(t, 2) {
			envs = append(envs, newEnvOn(t, store))
		}
		envs[0].createStudy("race", `, "sampler": {"type": "tpe", "startup_trials": 5}`)

		const clients, perClient = 16, 8
		var (
			mu   sync.Mutex
			told = map[int64]int{}
			nums = map[int]int64{}
			wg   sync.WaitGroup
		)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := envs[c%2]
				for i := range perClient {
					tr := e.ask("race")
					e.tell(tr.Id, fmt.Sprintf(`{"state":"complete","value":%d}`, c*100+i), http.StatusOK)
					mu.Lock()
					told[tr.Id]++
					if prev, dup := nums[tr.Number]; dup {
						t.Errorf("trial number %d given to trials %d and %d", tr.Number, prev, tr.Id)
					}
					nums[tr.Number] = tr.Id
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(told) != clients*perClient {
			t.Errorf("%d distinct trials, want %d", len(told), clients*perClient)
		}
		for n := range clients * perClient {
			if _, ok := nums[n]; !ok {
				t.Errorf("trial number %d is missing", n)
			}
		}
		var s openapi.Study
		envs[1].mustDo("GET", "/api/v1/studies/race", "", http.StatusOK, &s)
		if s.Counts.Complete != clients*perClient || s.Counts.Running != 0 {
			t.Errorf("counts = %+v", s.Counts)
		}
	})
}

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", "")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(e.url + "/api/v1/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(spec, []byte("openapi: 3.0.3")) || !bytes.Contains(spec, []byte("/studies/{study}/ask")) {
		t.Error("the spec is not served")
	}
	e.ask("s")
	resp, err = http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tune_trials{state="running"} 1`, "tune_asks_total 1", "tune_http_request_duration_seconds", "tune_suggest_seconds"} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestCMAESBookkeepingIsStored checks that what CMA-ES writes on a trial
// while sampling reaches the database, so a restarted service (whose tuner
// starts with an empty cache) resumes the search instead of restarting it.
func TestCMAESBookkeepingIsStored(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		var s openapi.Study
		e.mustDo("POST", "/api/v1/studies", `{"name":"cma","objective":{"metric":"loss"},
		"search_space":{"x":{"type":"float","low":-5,"high":5},"y":{"type":"float","low":-5,"high":5}},
		"sampler":{"type":"cmaes","seed":1}}`, http.StatusCreated, &s)
		tr := e.ask("cma")
		e.tell(tr.Id, `{"state":"complete","value":1}`, http.StatusOK)
		tr = e.ask("cma")
		got, err := e.store.GetTrial(context.Background(), tr.Id)
		if err != nil {
			t.Fatal(err)
		}
		if got.SystemAttrs["goptuna:cmaes:generationId"] == "" {
			t.Errorf("CMA-ES generation not stored on the trial: %v", got.SystemAttrs)
		}
	})
}

// TestSeededStudiesRepeatThemselves: two studies with the same seed, run
// one trial at a time with the same results, get the same proposals, past
// the random start-up into TPE.
func TestSeededStudiesRepeatThemselves(t *testing.T) {
	e := newEnv(t)
	var got [2][]string
	for i, name := range []string{"seeded-a", "seeded-b"} {
		e.createStudy(name, `, "sampler": {"type": "tpe", "seed": 7, "startup_trials": 5}`)
		for range 12 {
			tr := e.ask(name)
			got[i] = append(got[i], fmt.Sprint(tr.Params))
			lr := tr.Params["learning_rate"].(float64)
			e.tell(tr.Id, fmt.Sprintf(`{"state":"complete","value":%v}`, 1-lr), http.StatusOK)
		}
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
		t.Errorf("same seed, different proposals:\n%v\n%v", got[0], got[1])
	}
	e.createStudy("unseeded", `, "sampler": {"type": "tpe", "startup_trials": 5}`)
	if first := fmt.Sprint(e.ask("unseeded").Params); first == got[0][0] {
		t.Errorf("an unseeded study repeated the seeded one's first proposal %s", first)
	}
}

// TestListStudiesPaged: GET /studies pages like trials, and its items
// leave out what makes a study large: thirty studies of ~50 KB each list in
// a few KB.
func TestListStudiesPaged(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		choices := make([]string, 1000)
		for i := range choices {
			choices[i] = fmt.Sprintf("%q", fmt.Sprintf("choice-%030d", i))
		}
		space := `{"big": {"type": "categorical", "choices": [` + strings.Join(choices, ",") + `]}}`
		options := `{"notes": "` + strings.Repeat("x", 10000) + `"}`
		var want []int64
		for i := range 30 {
			var s openapi.Study
			e.mustDo("POST", "/api/v1/studies", fmt.Sprintf(`{"name": "big-%02d", "objective": {"metric": "loss"}, "search_space": %s,
				"workload": {"type": "my-script", "options": %s}}`, i, space, options), http.StatusCreated, &s)
			want = append(want, s.Id)
		}

		// One page of all thirty stays small, and says none follow.
		resp, err := http.Get(e.url + "/api/v1/studies?limit=1000")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /studies = %d, %v", resp.StatusCode, err)
		}
		if len(raw) > 30<<10 {
			t.Errorf("a listing of 30 studies is %d bytes, want under 30 KB", len(raw))
		}
		for _, large := range []string{"choice-", "search_space", "xxxxxxxx", "options"} {
			if strings.Contains(string(raw), large) {
				t.Errorf("the listing holds %q", large)
			}
		}
		var all openapi.StudyPage
		if err := json.Unmarshal(raw, &all); err != nil {
			t.Fatal(err)
		}
		if len(all.Items) != 30 || all.NextCursor != nil {
			t.Fatalf("one page of limit 1000: %d studies, next_cursor %v", len(all.Items), all.NextCursor)
		}
		first := all.Items[0]
		if first.ParamCount != 1 || first.WorkloadType == nil || *first.WorkloadType != "my-script" || first.SamplerType != "auto" || first.Objective.Metric != "loss" {
			t.Errorf("summary = %+v", first)
		}

		// Pages of 7 follow each other to the end, oldest first.
		var got []int64
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("paging never ends: %v", got)
			}
			var page openapi.StudyPage
			path := "/api/v1/studies?limit=7"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			e.mustDo("GET", path, "", http.StatusOK, &page)
			if len(page.Items) > 7 {
				t.Fatalf("a page of limit 7 has %d studies", len(page.Items))
			}
			for _, s := range page.Items {
				got = append(got, s.Id)
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages listed %v, want %v", got, want)
		}
		for _, bad := range []string{"?cursor=abc", "?cursor=-1", "?limit=0", "?limit=1001", "?limit=x"} {
			if got := e.do("GET", "/api/v1/studies"+bad, "", nil); got != http.StatusBadRequest && got != http.StatusUnprocessableEntity {
				t.Errorf("GET /studies%s = %d, want 400 or 422", bad, got)
			}
		}
	})
}
