package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/tuner"
)

// authEnv is a server with authentication on, its clock under the test's
// control, and an admin token made directly in the store.
type authEnv struct {
	t      *testing.T
	url    string
	admin  string
	offset *atomic.Int64 // added to the server's clock
}

type tokenStore interface {
	storetest.Store
	service.TokenStore
}

func newAuthEnv(t *testing.T, b backend, metricsToken string) *authEnv {
	t.Helper()
	store := b.open(t).(tokenStore)
	offset := new(atomic.Int64)
	srv, err := service.New(service.Config{
		Store:        store,
		Tuner:        tuner.New(store),
		Tokens:       store,
		MetricsToken: metricsToken,
		Now:          func() time.Time { return time.Now().Add(time.Duration(offset.Load())) },
		ReapInterval: -1,
		LeasePoll:    50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	secret, hash, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateToken(context.Background(), auth.Token{Name: "root", Scopes: []auth.Scope{auth.Admin}, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return &authEnv{t: t, url: ts.URL, admin: secret, offset: offset}
}

// call sends body (JSON, when not empty) with the bearer secret (none when
// empty) and returns the status, the body and the headers. Every error
// answer must be problem+json.
func (e *authEnv) call(secret, method, path, body string) (int, string, http.Header) {
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
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		e.t.Errorf("%s %s: %d as %q, want problem+json: %s", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if resp.StatusCode >= 500 {
		e.t.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, string(raw), resp.Header
}

func (e *authEnv) mustCall(secret, method, path, body string, want int) string {
	e.t.Helper()
	got, raw, _ := e.call(secret, method, path, body)
	if got != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	return raw
}

// token makes a token through the API and returns its id and secret.
func (e *authEnv) token(name string, extra string, scopes ...auth.Scope) (int64, string) {
	e.t.Helper()
	q := make([]string, len(scopes))
	for i, s := range scopes {
		q[i] = fmt.Sprintf("%q", s)
	}
	raw := e.mustCall(e.admin, "POST", "/api/v1/tokens",
		fmt.Sprintf(`{"name": %q, "scopes": [%s]%s}`, name, strings.Join(q, ","), extra), http.StatusCreated)
	var created openapi.TokenCreated
	if err := json.Unmarshal([]byte(raw), &created); err != nil {
		e.t.Fatal(err)
	}
	if !auth.LooksLikeSecret(created.Secret) || created.Token.Name != name {
		e.t.Fatalf("created token %s", raw)
	}
	return created.Token.Id, created.Secret
}

const authStudy = `{"name": %q, "objective": {"metric": "loss"}, "search_space": {"x": {"type": "float", "low": 0, "high": 1}}, "workload": {"type": "my-script"}}`

// TestAnonymousCallsAreRefused walks every operation of the spec: without
// a token, or with one the server does not know, each is a 401 with a
// Bearer challenge; health, readiness and the spec stay open.
func TestAnonymousCallsAreRefused(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newAuthEnv(t, b, "")
		spec, err := openapi.GetSwagger()
		if err != nil {
			t.Fatal(err)
		}
		other, _, _ := auth.NewSecret() // well formed, never stored
		n := 0
		for path, item := range spec.Paths.Map() {
			for method, op := range item.Operations() {
				if (op.Security == nil || len(*op.Security) == 0) && len(spec.Security) == 0 {
					t.Errorf("%s %s declares no security", method, path)
				}
				p := strings.NewReplacer("{study}", "s", "{trial}", "1", "{token}", "1").Replace(path)
				body := ""
				if method == "POST" || method == "PATCH" {
					body = "{}"
				}
				for _, secret := range []string{"", "not-a-token", other} {
					got, raw, h := e.call(secret, method, "/api/v1"+p, body)
					if got != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s with %q = %d (WWW-Authenticate %q), want 401 with a Bearer challenge: %s",
							method, path, secret, got, h.Get("WWW-Authenticate"), raw)
					}
				}
				if _, ok := op.Responses.Map()["401"]; !ok {
					t.Errorf("%s %s: the spec lists no 401", method, path)
				}
				if _, ok := op.Responses.Map()["403"]; !ok {
					t.Errorf("%s %s: the spec lists no 403", method, path)
				}
				if id := strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]; auth.Operations[id] == 0 {
					t.Errorf("operation %s is missing from auth.Operations", id)
				}
				n++
			}
		}
		if n < 18 {
			t.Fatalf("walked %d operations, want every one (>= 18)", n)
		}
		for _, path := range []string{"/healthz", "/readyz", "/api/v1/openapi.yaml", "/metrics"} {
			e.mustCall("", "GET", path, "", http.StatusOK)
		}
	})
}

// TestScopes runs the scope table over the API: each scope's allowed and
// refused calls.
func TestScopes(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newAuthEnv(t, b, "")
		_, read := e.token("dashboard", "", auth.Read)
		_, write := e.token("alice", "", auth.Write)
		_, run := e.token("gpu-box", "", auth.Runner)
		e.mustCall(write, "POST", "/api/v1/studies", fmt.Sprintf(authStudy, "s"), http.StatusCreated)

		lease := `{"runner": {"id": "r1", "workloads": ["my-script"]}, "wait_seconds": 0}`
		for _, tc := range []struct {
			who, secret, method, path, body string
			want                            int
		}{
			{"read", read, "GET", "/api/v1/studies", "", 200},
			{"read", read, "GET", "/api/v1/studies/s/trials", "", 200},
			{"read", read, "POST", "/api/v1/studies", fmt.Sprintf(authStudy, "r"), 403},
			{"read", read, "PATCH", "/api/v1/studies/s", `{"state": "paused"}`, 403},
			{"read", read, "DELETE", "/api/v1/studies/s", "", 403},
			{"read", read, "POST", "/api/v1/studies/s/ask", "{}", 403},
			{"read", read, "POST", "/api/v1/leases", lease, 403},
			{"read", read, "GET", "/api/v1/tokens", "", 403},
			{"write", write, "POST", "/api/v1/studies/s/trials", `{"params": {"x": 0.5}}`, 201},
			{"write", write, "GET", "/api/v1/tokens", "", 403},
			{"write", write, "POST", "/api/v1/tokens", `{"name": "x", "scopes": ["admin"]}`, 403},
			{"write", write, "DELETE", "/api/v1/tokens/1", "", 403},
			{"runner", run, "GET", "/api/v1/studies/s", "", 200},
			{"runner", run, "POST", "/api/v1/studies", fmt.Sprintf(authStudy, "r"), 403},
			{"runner", run, "POST", "/api/v1/studies/s/ask", "{}", 403},
			{"runner", run, "POST", "/api/v1/studies/s/trials", `{"params": {"x": 0.5}}`, 403},
			{"runner", run, "DELETE", "/api/v1/studies/s", "", 403},
			{"runner", run, "GET", "/api/v1/tokens", "", 403},
			{"admin", e.admin, "GET", "/api/v1/tokens", "", 200},
		} {
			got, raw, _ := e.call(tc.secret, tc.method, tc.path, tc.body)
			if got != tc.want {
				t.Errorf("%s: %s %s = %d, want %d: %s", tc.who, tc.method, tc.path, got, tc.want, raw)
			}
		}

		// A runner leases the enqueued trial, and may work on it only
		// with its lease token.
		var g openapi.LeaseGrant
		raw := e.mustCall(run, "POST", "/api/v1/leases", lease, http.StatusOK)
		if err := json.Unmarshal([]byte(raw), &g); err != nil {
			t.Fatal(err)
		}
		tp := fmt.Sprintf("/api/v1/trials/%d", g.Trial.Id)
		for _, op := range []string{"heartbeat", "report", "tell"} {
			body := map[string]string{"heartbeat": `{}`, "report": `{"step": 0, "value": 0.5}`, "tell": `{"state": "complete", "value": 0.4}`}[op]
			e.mustCall(run, "POST", tp+"/"+op, body, http.StatusForbidden)
			if op == "heartbeat" {
				e.mustCall(run, "POST", tp+"/"+op, "", http.StatusForbidden)
			}
			stale := strings.TrimSuffix(body, "}")
			if stale != "{" {
				stale += ","
			}
			e.mustCall(run, "POST", tp+"/"+op, fmt.Sprintf(`%s "lease": %d}`, stale, g.Lease+100), http.StatusConflict)
		}
		e.mustCall(run, "POST", tp+"/heartbeat", fmt.Sprintf(`{"lease": %d}`, g.Lease), http.StatusOK)
		e.mustCall(run, "POST", tp+"/report", fmt.Sprintf(`{"step": 0, "value": 0.5, "lease": %d}`, g.Lease), http.StatusOK)
		e.mustCall(run, "POST", tp+"/tell", fmt.Sprintf(`{"state": "complete", "value": 0.4, "lease": %d}`, g.Lease), http.StatusOK)
		// A write token is an ask/tell client: no lease needed.
		raw = e.mustCall(write, "POST", "/api/v1/studies/s/ask", "{}", http.StatusCreated)
		var tr openapi.Trial
		if err := json.Unmarshal([]byte(raw), &tr); err != nil {
			t.Fatal(err)
		}
		e.mustCall(write, "POST", fmt.Sprintf("/api/v1/trials/%d/tell", tr.Id), `{"state": "complete", "value": 0.3}`, http.StatusOK)
	})
}

// TestTokenLifecycle: a secret is shown once, never listed; expired and
// revoked tokens are refused with 401 and a reason.
func TestTokenLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newAuthEnv(t, b, "")
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		_, shortLived := e.token("ci", fmt.Sprintf(`, "expires_at": %q`, exp), auth.Read)
		id, doomed := e.token("laptop", "", auth.Write)

		list := e.mustCall(e.admin, "GET", "/api/v1/tokens", "", http.StatusOK)
		if strings.Contains(list, shortLived) || strings.Contains(list, doomed) || strings.Contains(list, "secret") {
			t.Fatalf("the token list shows secrets: %s", list)
		}
		var tl openapi.TokenList
		if err := json.Unmarshal([]byte(list), &tl); err != nil || len(tl.Items) != 3 {
			t.Fatalf("token list %s: %v", list, err)
		}

		e.mustCall(shortLived, "GET", "/api/v1/studies", "", http.StatusOK)
		e.offset.Store(int64(2 * time.Hour))
		_, raw, h := e.call(shortLived, "GET", "/api/v1/studies", "")
		if !strings.Contains(raw, "expired") || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("an expired token: %s (WWW-Authenticate %q)", raw, h.Get("WWW-Authenticate"))
		}
		e.mustCall(shortLived, "GET", "/api/v1/studies", "", http.StatusUnauthorized)
		e.offset.Store(0)

		e.mustCall(doomed, "GET", "/api/v1/studies", "", http.StatusOK)
		e.mustCall(e.admin, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), "", http.StatusOK)
		if _, raw, _ := e.call(doomed, "GET", "/api/v1/studies", ""); !strings.Contains(raw, "revoked") {
			t.Errorf("a revoked token: %s", raw)
		}
		e.mustCall(doomed, "GET", "/api/v1/studies", "", http.StatusUnauthorized)
		e.mustCall(e.admin, "DELETE", "/api/v1/tokens/999999", "", http.StatusNotFound)

		// Refused creations.
		for _, body := range []string{
			`{"name": "", "scopes": ["read"]}`,
			`{"name": "x", "scopes": []}`,
			`{"name": "x", "scopes": ["root"]}`,
			`{"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}`,
		} {
			if got, raw, _ := e.call(e.admin, "POST", "/api/v1/tokens", body); got != 400 && got != 422 {
				t.Errorf("POST /tokens %s = %d, want 400 or 422: %s", body, got, raw)
			}
		}
		e.mustCall(e.admin, "POST", "/api/v1/tokens", `{"name": "ci", "scopes": ["read"]}`, http.StatusConflict)
	})
}

func TestMetricsToken(t *testing.T) {
	e := newAuthEnv(t, backends[1], "scrape-me")
	e.mustCall("", "GET", "/metrics", "", http.StatusUnauthorized)
	e.mustCall("wrong", "GET", "/metrics", "", http.StatusUnauthorized)
	e.mustCall("scrape-me", "GET", "/metrics", "", http.StatusOK)
}

func TestAuthIsNotOptional(t *testing.T) {
	store := backends[1].open(t)
	if _, err := service.New(service.Config{Store: store, Tuner: tuner.New(store)}); err == nil {
		t.Fatal("a server with neither Tokens nor Insecure was built")
	}
}

// TestCreatedAndFinishedBy: studies and trials name the token that created
// them, trials the one that finished them, through the API.
func TestCreatedAndFinishedBy(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newAuthEnv(t, b, "")
		_, write := e.token("alice", "", auth.Write)
		_, run := e.token("gpu-box", "", auth.Runner)
		var st openapi.Study
		mustDecode(t, e.mustCall(write, "POST", "/api/v1/studies", fmt.Sprintf(authStudy, "s"), http.StatusCreated), &st)
		if st.CreatedBy != "alice" {
			t.Errorf("study created_by %q, want alice", st.CreatedBy)
		}
		mustDecode(t, e.mustCall(run, "GET", "/api/v1/studies/s", "", http.StatusOK), &st)
		if st.CreatedBy != "alice" {
			t.Errorf("study read back: created_by %q, want alice", st.CreatedBy)
		}

		// Enqueued by alice, leased and told by the runner.
		e.mustCall(write, "POST", "/api/v1/studies/s/trials", `{"params": {"x": 0.5}}`, http.StatusCreated)
		lease := `{"runner": {"id": "r1", "workloads": ["my-script"]}, "wait_seconds": 0}`
		var g openapi.LeaseGrant
		mustDecode(t, e.mustCall(run, "POST", "/api/v1/leases", lease, http.StatusOK), &g)
		var tr openapi.Trial
		mustDecode(t, e.mustCall(run, "POST", fmt.Sprintf("/api/v1/trials/%d/tell", g.Trial.Id),
			fmt.Sprintf(`{"state": "complete", "value": 0.4, "lease": %d}`, g.Lease), http.StatusOK), &tr)
		if tr.CreatedBy != "alice" || tr.FinishedBy != "gpu-box" {
			t.Errorf("leased trial: created_by %q, finished_by %q; want alice, gpu-box", tr.CreatedBy, tr.FinishedBy)
		}
		// A lease that needs a new trial creates it as the runner.
		mustDecode(t, e.mustCall(run, "POST", "/api/v1/leases", lease, http.StatusOK), &g)
		if g.Trial.CreatedBy != "gpu-box" || g.Trial.FinishedBy != "" {
			t.Errorf("new leased trial: created_by %q, finished_by %q; want gpu-box and none", g.Trial.CreatedBy, g.Trial.FinishedBy)
		}
		// An ask/tell client signs both ends.
		mustDecode(t, e.mustCall(write, "POST", "/api/v1/studies/s/ask", "{}", http.StatusCreated), &tr)
		mustDecode(t, e.mustCall(write, "POST", fmt.Sprintf("/api/v1/trials/%d/tell", tr.Id), `{"state": "failed", "error": "no"}`, http.StatusOK), &tr)
		if tr.CreatedBy != "alice" || tr.FinishedBy != "alice" {
			t.Errorf("asked trial: created_by %q, finished_by %q; want alice twice", tr.CreatedBy, tr.FinishedBy)
		}
		mustDecode(t, e.mustCall(run, "GET", fmt.Sprintf("/api/v1/trials/%d", tr.Id), "", http.StatusOK), &tr)
		if tr.FinishedBy != "alice" {
			t.Errorf("asked trial read back: finished_by %q, want alice", tr.FinishedBy)
		}
	})
}

func mustDecode(t *testing.T, raw string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// TestRunnerTouchesOnlyItsTrials: lease tokens are small numbers anyone who
// reads the study sees, so a runner token presenting another runner's
// lease is still refused; the holder is not.
func TestRunnerTouchesOnlyItsTrials(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newAuthEnv(t, b, "")
		_, write := e.token("alice", "", auth.Write)
		_, gpuA := e.token("gpu-a", "", auth.Runner)
		_, gpuB := e.token("gpu-b", "", auth.Runner)
		e.mustCall(write, "POST", "/api/v1/studies", fmt.Sprintf(authStudy, "s"), http.StatusCreated)
		lease := `{"runner": {"id": "a", "workloads": ["my-script"]}, "wait_seconds": 0}`
		var g openapi.LeaseGrant
		mustDecode(t, e.mustCall(gpuA, "POST", "/api/v1/leases", lease, http.StatusOK), &g)
		tp := fmt.Sprintf("/api/v1/trials/%d", g.Trial.Id)
		for _, op := range []struct{ path, body string }{
			{"/heartbeat", fmt.Sprintf(`{"lease": %d}`, g.Lease)},
			{"/report", fmt.Sprintf(`{"step": 0, "value": 0.5, "lease": %d}`, g.Lease)},
			{"/tell", fmt.Sprintf(`{"state": "complete", "value": 0.1, "lease": %d}`, g.Lease)},
		} {
			raw := e.mustCall(gpuB, "POST", tp+op.path, op.body, http.StatusForbidden)
			if !strings.Contains(raw, "held by another token") || strings.Contains(raw, "gpu-a") {
				t.Errorf("gpu-b %s: %s", op.path, raw)
			}
		}
		e.mustCall(gpuA, "POST", tp+"/heartbeat", fmt.Sprintf(`{"lease": %d}`, g.Lease), http.StatusOK)
		var tr openapi.Trial
		mustDecode(t, e.mustCall(gpuA, "POST", tp+"/tell", fmt.Sprintf(`{"state": "complete", "value": 0.4, "lease": %d}`, g.Lease), http.StatusOK), &tr)
		if tr.Value == nil || *tr.Value != 0.4 || tr.FinishedBy != "gpu-a" {
			t.Errorf("told trial = %+v", tr)
		}
		// The holder's retried tell is still answered; another runner's is not.
		e.mustCall(gpuA, "POST", tp+"/tell", fmt.Sprintf(`{"state": "complete", "value": 0.4, "lease": %d}`, g.Lease), http.StatusOK)
		e.mustCall(gpuB, "POST", tp+"/tell", fmt.Sprintf(`{"state": "complete", "value": 0.4, "lease": %d}`, g.Lease), http.StatusForbidden)
		if strings.Contains(e.mustCall(gpuA, "GET", tp, "", http.StatusOK), "held_by") {
			t.Error("a trial shows who holds it")
		}
	})
}
