package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/runner/internal/runnertest"
	"github.com/tune-dev/tune/runner/workload"
)

// A study whose trials fail right after they start is no longer leased
// after three of them, while the runner keeps serving other studies.
func TestRunnerBacksOffFromAFailingStudy(t *testing.T) {
	e := runnertest.Unstarted(t)
	var mu sync.Mutex
	var excludes [][]int64 // exclude_studies of each lease request
	e.Start(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/api/v1/leases" {
				body, _ := io.ReadAll(req.Body)
				req.Body = io.NopCloser(bytes.NewReader(body))
				var lr struct {
					Exclude []int64 `json:"exclude_studies"`
				}
				json.Unmarshal(body, &lr)
				mu.Lock()
				excludes = append(excludes, lr.Exclude)
				mu.Unlock()
			}
			h.ServeHTTP(w, req)
		})
	})
	broken := e.CreateStudy(study("broken", map[string]any{"max_trials": 100}))
	w := fake{run: func(ctx context.Context, tr workload.Trial, r workload.Reporter) (workload.Result, error) {
		if tr.Study == "broken" {
			return workload.Result{}, errors.New("exec option \"command\" must be a non-empty list")
		}
		return quick(ctx, tr, r)
	}}
	var logs runnertest.LogBuffer
	e.StartRunner(runner.Config{ID: "r", Workloads: []workload.Workload{w},
		Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
		FailureBackoff: runner.FailureBackoff{After: 3, Within: time.Minute, Initial: time.Hour}})

	excludedRequests := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ex := range excludes {
			if slices.Equal(ex, []int64{broken.Id}) {
				n++
			}
		}
		return n
	}
	e.Wait(30*time.Second, "lease requests excluding the broken study", func() bool { return excludedRequests() >= 2 })
	fine := e.CreateStudy(study("fine", map[string]any{"max_trials": 3}))
	e.Wait(30*time.Second, "the other study to finish", func() bool { return e.Study("fine").State == "done" })
	if s := e.Study("fine"); s.Counts.Complete != 3 {
		t.Errorf("study %d beside the paused one: %+v", fine.Id, s.Counts)
	}
	n := excludedRequests()
	e.Wait(30*time.Second, "more lease requests", func() bool { return excludedRequests() >= n+2 })

	trs := e.Trials("broken")
	if len(trs) != 3 {
		t.Errorf("the broken study got %d trials, want 3 before the runner backed off", len(trs))
	}
	for _, tr := range trs {
		if tr.State != "failed" {
			t.Errorf("broken trial %d: %s", tr.Number, tr.State)
		}
	}
	if got := strings.Count(logs.String(), "keep failing right after they start"); got != 1 {
		t.Errorf("the pause was logged %d times, want once:\n%s", got, logs.String())
	}
}
