package service_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/sql/storetest"
	"github.com/tune-dev/tune/tuner"
)

// Hostile bodies, paths and queries are refused with a 4xx problem before
// they reach the validator or a store, on every store: the same request
// that Postgres would refuse deep inside a write (NUL, invalid UTF-8) must
// get the same answer from the embedded store.
func TestHostileInputIsRefused(t *testing.T) {
	onEveryStore(t, func(t *testing.T, b backend) {
		e := newEnvOn(t, b.open(t))
		e.createStudy("s", "")
		var tr struct {
			ID int64 `json:"id"`
		}
		e.mustDo("POST", "/api/v1/studies/s/ask", `{"runner": "r"}`, http.StatusCreated, &tr)
		report := fmt.Sprintf("/api/v1/trials/%d/report", tr.ID)
		tell := fmt.Sprintf("/api/v1/trials/%d/tell", tr.ID)

		deep := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
		for _, c := range []struct {
			name, method, path, body string
			want                     int
			detail                   string
		}{
			{"nested 10,000 deep", "POST", "/api/v1/studies", deep, 400, "nests deeper"},
			{"nested arrays", "POST", "/api/v1/studies", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), 400, "nests deeper"},
			{"NUL in a study name", "POST", "/api/v1/studies", `{"name": "a\u0000b", "objective": {"metric": "m"}, "search_space": {"x": {"type": "float", "low": 0, "high": 1}}}`, 400, "NUL"},
			{"NUL in a tell's error", "POST", tell, `{"state": "failed", "error": "boom\u0000"}`, 400, "NUL"},
			{"NUL in a metric name", "POST", report, `{"step": 0, "value": 1, "metrics": {"a\u0000": 1}}`, 400, "NUL"},
			{"invalid UTF-8 in a runner id", "POST", "/api/v1/studies/s/ask", "{\"runner\": \"\xff\xfe\"}", 400, "UTF-8"},
			{"invalid UTF-8 in an error", "POST", tell, "{\"state\": \"failed\", \"error\": \"\xc3\x28\"}", 400, "UTF-8"},
			{"a huge string", "POST", tell, `{"state": "failed", "error": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "larger"},
			{"a long metric name", "POST", report, `{"step": 0, "value": 1, "metrics": {"` + strings.Repeat("m", 300) + `": 1}}`, 400, "at most 256"},
			{"NUL in the path", "GET", "/api/v1/studies/a%00b", "", 400, "NUL"},
			{"invalid UTF-8 in the path", "GET", "/api/v1/studies/%ff", "", 400, "UTF-8"},
			{"NUL in the query", "GET", "/api/v1/studies/s/trials?cursor=%00", "", 400, "NUL"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var p struct {
					Detail string `json:"detail"`
				}
				if got := e.do(c.method, c.path, c.body, &p); got != c.want {
					t.Fatalf("%s %s = %d, want %d (%s)", c.method, c.path, got, c.want, p.Detail)
				}
				if !strings.Contains(p.Detail, c.detail) {
					t.Errorf("detail %q does not say %q", p.Detail, c.detail)
				}
			})
		}
		// The trial is untouched and still takes a clean result.
		e.mustDo("POST", tell, `{"state": "complete", "value": 0.5}`, http.StatusOK, nil)
	})
}

// The same limits hold for a body that is within the size limit but holds
// too many values.
func TestTooManyValuesIsRefused(t *testing.T) {
	e := newEnv(t)
	e.createStudy("s", "")
	body := `{"name": "big", "objective": {"metric": "m"}, "search_space": {"x": {"type": "categorical", "choices": [` +
		strings.TrimSuffix(strings.Repeat("1,", 30_000), ",") + `]}}}`
	srv, err := service.New(service.Config{Store: e.store, Tuner: tuner.New(e.store), ReapInterval: -1, Insecure: true,
		Limits: service.InputLimits{MaxValues: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	post := func(body string) (int, string) {
		resp, err := http.Post(ts.URL+"/api/v1/studies", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	if code, raw := post(body); code != http.StatusRequestEntityTooLarge || !strings.Contains(raw, "more than 1000 values") {
		t.Errorf("POST with 30,000 values = %d %s, want 413", code, raw)
	}
	// Within the body limit (1 MiB by default), one string of 100 KB.
	long := `{"name": "` + strings.Repeat("n", 100<<10) + `", "objective": {"metric": "m"}, "search_space": {}}`
	if code, raw := post(long); code != http.StatusBadRequest || !strings.Contains(raw, "at most 65536") {
		t.Errorf("POST with a 100 KB name = %d %s, want 400", code, raw)
	}
}

// A caller that spends its burst gets 429 with Retry-After, and other
// callers are not held back by it.
func TestRateLimitPerCaller(t *testing.T) {
	store := pgtest.New(t)
	srv, err := service.New(service.Config{Store: store, Tuner: tuner.New(store), ReapInterval: -1, Insecure: true,
		RateLimit: service.RateLimit{Rate: 0.01, Burst: 5}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	get := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/studies", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if r := get("alice"); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst = %d", i, r.StatusCode)
		}
	}
	r := get("alice")
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("request past the burst = %d, want 429", r.StatusCode)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("429 content type %q", ct)
	}
	if r := get("bob"); r.StatusCode != http.StatusOK {
		t.Errorf("another caller = %d, want 200", r.StatusCode)
	}
	// Health checks are not rate limited: orchestrators poll them.
	for range 10 {
		resp, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz = %d", resp.StatusCode)
		}
	}
}

// On loopback, a Host or Origin that names another machine is refused
// (DNS rebinding); the usual loopback names pass.
func TestLoopbackHostCheck(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		host, origin string
		want         int
	}{
		{"", "", 200},
		{"localhost:8080", "", 200},
		{"[::1]:8080", "", 200},
		{"app.localhost", "http://localhost:8080", 200},
		{"evil.example:8080", "", 403},
		{"127.0.0.1", "http://evil.example", 403},
	} {
		req, _ := http.NewRequest("GET", e.url+"/api/v1/studies", nil)
		if c.host != "" {
			req.Host = c.host
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Host %q Origin %q = %d, want %d", c.host, c.origin, resp.StatusCode, c.want)
		}
	}
	// The dashboard's pages are covered too.
	req, _ := http.NewRequest("GET", e.url+"/", nil)
	req.Host = "rebound.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("dashboard under a foreign Host = %d, want 403", resp.StatusCode)
	}
}

// Off loopback (a container, a server behind a proxy) any Host is served.
func TestHostCheckOnlyOnLoopback(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var ip net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address to listen on")
	}
	store := pgtest.New(t)
	srv, err := service.New(service.Config{Store: store, Tuner: tuner.New(store), ReapInterval: -1, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", ip.String()+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	ts := &httptest.Server{Listener: l, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/studies", nil)
	req.Host = "tune.internal"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET on %s with Host tune.internal = %d, want 200", ip, resp.StatusCode)
	}
}

// readyz says not ready when the database is reachable but its schema is
// gone (dropped, or restored from a backup older than the migrations).
func TestReadyzChecksTheSchema(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pgURL := pgtest.URL(t)
	pg, err := postgres.Open(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	litePath := filepath.Join(t.TempDir(), "tune.db")
	lite, err := sqlite.Open(ctx, litePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lite.Close)
	if err := lite.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		store storetest.Store
		drop  func() error
	}{
		{"postgres", pg, func() error {
			conn, err := pgx.Connect(ctx, pgURL)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP TABLE goose_db_version")
			return err
		}},
		{"sqlite", lite, func() error {
			db, err := sql.Open("sqlite", litePath+"?_pragma=busy_timeout(10000)") // the service writes meanwhile (its reaper)
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(ctx, "DROP TABLE goose_db_version")
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvOn(t, c.store)
			get := func() int {
				resp, err := http.Get(e.url + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := get(); got != http.StatusOK {
				t.Fatalf("readyz on a migrated store = %d", got)
			}
			if err := c.drop(); err != nil {
				t.Fatal(err)
			}
			if got := get(); got != http.StatusServiceUnavailable {
				t.Errorf("readyz with the schema gone = %d, want 503", got)
			}
		})
	}
}
