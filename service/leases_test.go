package service_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tune-dev/tune/openapi"
)

// A runner that backs off from a study names it in exclude_studies and
// gets trials of the others only, or none while only it has work.
func TestLeaseExcludesStudies(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		broken := e.createStudy("broken", `, "workload": {"type": "mnist-mlp"}, "max_parallel": 10`)
		lease := func(exclude []int64, wait int) (*openapi.LeaseGrant, int) {
			t.Helper()
			req := map[string]any{
				"runner":       map[string]any{"id": "r", "workloads": []string{"mnist-mlp"}},
				"wait_seconds": wait,
			}
			if exclude != nil {
				req["exclude_studies"] = exclude
			}
			body, _ := json.Marshal(req)
			var g openapi.LeaseGrant
			status := e.do("POST", "/api/v1/leases", string(body), &g)
			return &g, status
		}
		if g, status := lease([]int64{broken.Id}, 0); status != http.StatusNoContent {
			t.Fatalf("the only study is excluded, yet the lease got %d %+v", status, g)
		}
		fine := e.createStudy("fine", `, "workload": {"type": "mnist-mlp"}, "max_parallel": 10`)
		for range 3 {
			g, status := lease([]int64{broken.Id, 999999}, 1)
			if status != http.StatusOK || g.Study.Id != fine.Id {
				t.Fatalf("lease excluding %d = %d, study %d; want a trial of %d", broken.Id, status, g.Study.Id, fine.Id)
			}
		}
		if g, status := lease(nil, 1); status != http.StatusOK || g.Study.Id != broken.Id {
			t.Errorf("lease without exclusions = %d, study %d; want the fairest, %d", status, g.Study.Id, broken.Id)
		}
		if _, status := lease(make([]int64, 1001), 0); status != http.StatusBadRequest {
			t.Errorf("1001 exclusions: %d, want 400", status)
		}
	})
}
