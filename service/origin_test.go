package service_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
)

// TestTrialOrigin: every trial says what decided its params, over HTTP on
// every store: TPE's start-up trials, then TPE's own, an enqueued trial, a
// trial retried after a lost lease (it keeps its origin, attempt 1) and
// finished trials recorded as given.
func TestTrialOrigin(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", `, "sampler": {"type": "tpe", "seed": 7, "startup_trials": 2}, "max_retries": 1, "lease_seconds": 30`)
		wantOrigin := func(what string, tr openapi.Trial, want string) {
			t.Helper()
			if tr.Origin != want {
				t.Errorf("%s: origin %q, want %q", what, tr.Origin, want)
			}
			var got openapi.Trial
			e.mustDo("GET", fmt.Sprintf("/api/v1/trials/%d", tr.Id), "", http.StatusOK, &got)
			if got.Origin != want {
				t.Errorf("%s, read back: origin %q, want %q", what, got.Origin, want)
			}
		}

		for i, want := range []string{"startup", "startup", "tpe"} {
			tr := e.ask("s")
			wantOrigin(fmt.Sprintf("asked trial %d", i), tr, want)
			e.tell(tr.Id, `{"state":"complete","value":0.5}`, http.StatusOK)
		}

		var queued openapi.Trial
		e.mustDo("POST", "/api/v1/studies/s/trials",
			`{"params":{"learning_rate":0.001,"batch_size":128,"activation":"relu","precision":"float32","workers":2}}`,
			http.StatusCreated, &queued)
		wantOrigin("enqueued trial", queued, "enqueued")
		handed := e.ask("s")
		if handed.Id != queued.Id {
			t.Fatalf("ask after enqueue handed out trial %d, want the enqueued %d", handed.Id, queued.Id)
		}
		wantOrigin("enqueued trial handed out", handed, "enqueued")
		e.tell(handed.Id, `{"state":"complete","value":0.6}`, http.StatusOK)

		// A TPE trial whose client dies: the reaper requeues it and the next
		// ask hands it out again, its origin kept and its attempt counted.
		lost := e.ask("s")
		wantOrigin("TPE trial", lost, "tpe")
		e.store.SetClockOffset(31 * time.Second)
		e.waitTrial(lost.Id, func(tr openapi.Trial) bool { return tr.State == "waiting" })
		retried := e.ask("s")
		if retried.Id != lost.Id || retried.Attempt != 1 {
			t.Fatalf("ask after the reaper handed out trial %d at attempt %d, want %d at attempt 1", retried.Id, retried.Attempt, lost.Id)
		}
		wantOrigin("retried trial", retried, "tpe")

		var page openapi.TrialPage
		e.mustDo("GET", "/api/v1/studies/s/trials", "", http.StatusOK, &page)
		var got []string
		for _, tr := range page.Items {
			got = append(got, fmt.Sprintf("%s/%d", tr.Origin, tr.Attempt))
		}
		if want := "[startup/0 startup/0 tpe/0 enqueued/0 tpe/1]"; fmt.Sprint(got) != want {
			t.Errorf("trial list origins/attempts %v, want %s", got, want)
		}

		const params = `"params":{"learning_rate":0.01,"batch_size":64,"activation":"tanh","precision":"float64","workers":1}`
		var rec openapi.Trial
		e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`,"state":"complete","value":0.7}`, http.StatusCreated, &rec)
		wantOrigin("recorded trial", rec, "recorded")
		e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`,"state":"pruned","origin":"cmaes"}`, http.StatusCreated, &rec)
		wantOrigin("recorded trial that names its origin", rec, "cmaes")
		e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`,"state":"pruned","origin":"oracle"}`, http.StatusUnprocessableEntity, nil)
		// Only a recorded trial says where its params came from.
		e.mustDo("POST", "/api/v1/studies/s/trials", `{`+params+`,"origin":"tpe"}`, http.StatusUnprocessableEntity, nil)
	})
}

// TestDefaultSamplerOrigin: a study that names no sampler gets auto, and
// its trials say that the Gaussian process proposed them after the random
// start-up ones.
func TestDefaultSamplerOrigin(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", `, "sampler": {"seed": 3, "startup_trials": 2}`)
	var st openapi.Study
	e.mustDo("GET", "/api/v1/studies/s", "", http.StatusOK, &st)
	if st.Sampler.Type == nil || *st.Sampler.Type != "auto" {
		t.Fatalf("default sampler %+v, want type auto", st.Sampler)
	}
	for i, want := range []string{"startup", "startup", "gp", "gp"} {
		tr := e.ask("s")
		if tr.Origin != want {
			t.Errorf("asked trial %d: origin %q, want %q", i, tr.Origin, want)
		}
		e.tell(tr.Id, fmt.Sprintf(`{"state":"complete","value":%v}`, 0.1*float64(i)), http.StatusOK)
	}
}
