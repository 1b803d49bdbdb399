package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/tuner"
)

// seedRequests are valid calls of every operation, the material the fuzzers
// mutate. {trial} is replaced by a trial id of the fuzzed study.
var seedRequests = []struct{ method, path, body string }{
	{"POST", "/api/v1/studies", `{"name": "f", "objective": {"metric": "acc", "direction": "maximize"}, "search_space": {"lr": {"type": "float", "low": 1e-5, "high": 1, "log": true}, "bs": {"type": "int", "low": 16, "high": 1024, "step": 16}, "act": {"type": "categorical", "choices": ["relu", 3, true]}}, "sampler": {"type": "tpe", "seed": 1}, "pruner": {"type": "median", "startup_trials": 1}, "workload": {"type": "exec", "options": {"command": ["true"]}}, "max_trials": 50, "max_parallel": 4, "max_retries": 1, "lease_seconds": 30}`},
	{"GET", "/api/v1/studies", ""},
	{"GET", "/api/v1/studies/fuzz", ""},
	{"PATCH", "/api/v1/studies/fuzz", `{"state": "paused"}`},
	{"PATCH", "/api/v1/studies/fuzz", `{"state": "running"}`},
	{"GET", "/api/v1/studies/fuzz/trials?state=complete&limit=10&cursor=3", ""},
	{"POST", "/api/v1/studies/fuzz/trials", `{"params": {"x": 0.5}}`},
	{"POST", "/api/v1/studies/fuzz/trials", `{"params": {"x": 0.5}, "state": "complete", "value": 1, "intermediate_values": [{"step": 0, "value": 1, "metrics": {"m": 2}, "profile": {"wall_seconds": 1, "phases": {"eval": 0.5}, "rss_peak_bytes": 4096}}], "metrics": {"m": 1}, "runner": "r", "created_at": "2026-01-01T00:00:00Z"}`},
	{"GET", "/api/v1/studies/fuzz/best", ""},
	{"GET", "/api/v1/studies/fuzz/importance", ""},
	{"POST", "/api/v1/studies/fuzz/ask", `{"runner": "r"}`},
	{"GET", "/api/v1/trials/{trial}", ""},
	{"POST", "/api/v1/trials/{trial}/report", `{"step": 1, "value": 0.5, "metrics": {"samples_per_second": 100}, "profile": {"wall_seconds": 2, "phases": {"data": 0.5, "forward": 1}, "heap_peak_bytes": 1024, "matmul_flops": 1e9, "matmul_seconds": 0.5, "peak_flops": 1e10}, "lease": 1}`},
	{"POST", "/api/v1/trials/{trial}/heartbeat", `{"lease": 1}`},
	{"POST", "/api/v1/trials/{trial}/tell", `{"state": "complete", "value": 0.5, "metrics": {"m": 1}, "lease": 1}`},
	{"POST", "/api/v1/trials/{trial}/tell", `{"state": "failed", "error": "boom"}`},
	{"POST", "/api/v1/leases", `{"runner": {"id": "r", "host": "h", "devices": [{"kind": "cpu", "name": "cpu"}], "workloads": ["exec"]}, "wait_seconds": 0}`},
	{"DELETE", "/api/v1/studies/other", ""},
	{"GET", "/api/v1/tokens", ""},
	{"POST", "/api/v1/tokens", `{"name": "ci", "scopes": ["read", "runner"], "expires_at": "2099-01-01T00:00:00Z"}`},
	{"DELETE", "/api/v1/tokens/{victim}", ""},
	{"POST", "/api/v1/studies", `{"name": "mo", "objectives": [{"metric": "acc", "direction": "maximize"}, {"metric": "sec"}], "constraints": [{"metric": "acc", "min": 0.9}, {"metric": "mem", "min": 0, "max": 2e9}], "search_space": {"lr": {"type": "float", "low": 1e-5, "high": 1, "log": true}}}`},
	{"GET", "/api/v1/studies/fuzz/pareto", ""},
	{"POST", "/api/v1/trials/{trial}/tell", `{"state": "failed", "error": "CUDA out of memory", "failure_kind": "oom"}`},
	{"POST", "/api/v1/studies/fuzz/trials", `{"params": {"x": 0.5}, "state": "failed", "failure_kind": "diverged"}`},
}

// fuzzTarget is the server the fuzzers aim at, and the secrets of its
// tokens when it has them.
type fuzzTarget struct {
	h      http.Handler
	trial  int64
	victim int64 // a token that DELETE /tokens/{victim} may revoke
	// secrets by scope (admin, write, read, runner); nil on an insecure
	// server.
	secrets map[auth.Scope]string
}

// fuzzServer is a real service on the embedded store (fast to create, no
// database server) with one study, "fuzz", and a trial to aim at. With
// withTokens it authenticates, and has a token of each scope.
func fuzzServer(tb testing.TB, withTokens bool) *fuzzTarget {
	tb.Helper()
	store, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "tune.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(store.Close)
	if err := store.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	cfg := service.Config{Store: store, Tuner: tuner.New(store), ReapInterval: -1, Insecure: !withTokens,
		MaxLeaseWait: time.Millisecond, RateLimit: service.RateLimit{Rate: -1}}
	ft := &fuzzTarget{}
	if withTokens {
		cfg.Tokens = store
		ft.secrets = map[auth.Scope]string{}
		for _, scope := range []auth.Scope{auth.Read, auth.Write, auth.Runner, auth.Admin} {
			secret, hash, err := auth.NewSecret()
			if err != nil {
				tb.Fatal(err)
			}
			tok, err := store.CreateToken(tb.Context(), auth.Token{Name: "fuzz-" + string(scope), Scopes: []auth.Scope{scope}, Hash: hash})
			if err != nil {
				tb.Fatal(err)
			}
			ft.secrets[scope] = secret
			if scope == auth.Read {
				ft.victim = tok.ID
			}
		}
	}
	srv, err := service.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	ft.h = srv.Handler()
	admin := ft.secrets[auth.Admin]
	sendAs(tb, ft.h, admin, "POST", "/api/v1/studies", `{"name": "fuzz", "objective": {"metric": "m"}, "search_space": {"x": {"type": "float", "low": 0, "high": 1}}, "pruner": {"type": "median", "startup_trials": 0}}`)
	var tr struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(sendAs(tb, ft.h, admin, "POST", "/api/v1/studies/fuzz/ask", `{}`).Body.Bytes(), &tr)
	ft.trial = tr.ID
	return ft
}

// path fills a seed path's placeholders.
func (ft *fuzzTarget) path(p string) string {
	p = strings.ReplaceAll(p, "{trial}", fmt.Sprint(ft.trial))
	return strings.ReplaceAll(p, "{victim}", fmt.Sprint(ft.victim))
}

func send(tb testing.TB, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	tb.Helper()
	return sendAs(tb, h, "", method, path, body)
}

// sendAs sends a request with secret as its bearer token (none when
// empty).
func sendAs(tb testing.TB, h http.Handler, secret, method, path, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails on what no input may cause: a 5xx (a panic is one, by
// the recover middleware), or an error that is not problem+json.
func checkAnswer(tb testing.TB, method, path, body string, rec *httptest.ResponseRecorder) {
	tb.Helper()
	if rec.Code >= 500 {
		tb.Fatalf("%s %s %q = %d: %s", method, path, truncate(body, 300), rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		tb.Fatalf("%s %s %q = %d with content type %q", method, path, truncate(body, 300), rec.Code, rec.Header().Get("Content-Type"))
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// FuzzAPI sends fuzzed bodies and paths to every operation of a real
// service: `go test -fuzz FuzzAPI ./service/`. Without -fuzz it runs the
// seeds.
func FuzzAPI(f *testing.F) {
	for i, r := range seedRequests {
		f.Add(uint8(i), r.path, r.body)
	}
	f.Add(uint8(0), "/api/v1/studies", strings.Repeat("[", 100))
	f.Add(uint8(12), "/api/v1/trials/{trial}/report", `{"step": 1e400, "value": -0}`)
	ft := fuzzServer(f, false)
	f.Fuzz(func(t *testing.T, op uint8, path, body string) {
		r := seedRequests[int(op)%len(seedRequests)]
		path = "/api/v1/" + strings.TrimPrefix(path, "/api/v1/")
		path = ft.path(path)
		if !validRequestTarget(path) {
			return
		}
		rec := send(t, ft.h, r.method, path, body)
		checkAnswer(t, r.method, path, body, rec)
	})
}

// validRequestTarget keeps the fuzzer to paths an HTTP client could send;
// httptest.NewRequest panics on the others.
func validRequestTarget(p string) bool {
	for _, c := range []byte(p) {
		if c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	_, err := http.NewRequest("GET", "http://127.0.0.1"+p, nil)
	return err == nil
}

// TestHTTPFuzz is the fuzzer's seeded cousin that runs in every `go test`:
// a few thousand requests mutated from valid ones, over real HTTP against
// a real server, each of which must get a 2xx or a 4xx problem, never a
// 5xx or a panic. The seed is fixed so a failure reproduces; set
// TUNE_FUZZ_SEED to explore others.
func TestHTTPFuzz(t *testing.T) {
	seed := uint64(20261201)
	if s := fuzzSeedFromEnv(); s != 0 {
		seed = s
	}
	t.Run("insecure", func(t *testing.T) { httpFuzz(t, seed, fuzzServer(t, false)) })
	// With tokens, most requests carry the admin token, so that they get
	// past authentication to the decoders; the rest carry none, garbage,
	// or a token of another scope.
	t.Run("tokens", func(t *testing.T) { httpFuzz(t, seed, fuzzServer(t, true)) })
}

// garbageAuth are Authorization headers no server should choke on.
var garbageAuth = []string{
	"", "Bearer", "Bearer ", "bearer tune_", "Basic dXNlcjpwYXNz", "Bearer tune_" + strings.Repeat("A", 43),
	"Bearer tune_\xff\xfe", "Bearer " + strings.Repeat("t", 8000), "Bearer tune_AAA, Bearer tune_BBB", "Token abc",
	"Bearer \u202etune_", "Bearer tune_" + strings.Repeat("%", 43),
}

func httpFuzz(t *testing.T, seed uint64, ft *fuzzTarget) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ts := httptest.NewServer(ft.h)
	t.Cleanup(ts.Close)
	const n = 3000
	codes := map[int]int{}
	defer func() { t.Logf("answers by status: %v", codes) }()
	for i := range n {
		r := seedRequests[rng.IntN(len(seedRequests))]
		path := ft.path(r.path)
		body := r.body
		if body != "" {
			body = mutateJSON(rng, body)
		}
		if rng.IntN(8) == 0 {
			path = mutatePath(rng, path)
		}
		req, err := http.NewRequest(r.method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			continue // a path no client could send
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		authz := ""
		if ft.secrets != nil {
			switch k := rng.IntN(10); {
			case k < 6:
				authz = "Bearer " + ft.secrets[auth.Admin]
			case k < 8:
				authz = "Bearer " + ft.secrets[[]auth.Scope{auth.Read, auth.Write, auth.Runner}[rng.IntN(3)]]
			default:
				authz = garbageAuth[rng.IntN(len(garbageAuth))]
			}
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode >= 500 {
			t.Fatalf("request %d (seed %d): %s %s %q = %d: %s", i, seed, r.method, path, truncate(body, 300), resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("request %d: %s %s = %d, not problem+json: %s", i, r.method, path, resp.StatusCode, raw)
		}
		// A secret never comes back in an answer (token creation aside,
		// which shows the new one once).
		for scope, secret := range ft.secrets {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("request %d: %s %s echoed the %s token", i, r.method, path, scope)
			}
		}
	}
	if ft.secrets != nil && (codes[http.StatusUnauthorized] == 0 || codes[http.StatusForbidden] == 0) {
		t.Errorf("with tokens, no request was refused as 401 and 403: %v", codes)
	}
}

func fuzzSeedFromEnv() uint64 {
	var s uint64
	fmt.Sscan(strings.TrimSpace(os.Getenv("TUNE_FUZZ_SEED")), &s)
	return s
}

// hostile are fragments that have broken parsers and stores before.
var hostile = []string{
	`null`, `true`, `-0`, `1e400`, `-1e400`, `1.5`, `9223372036854775808`, `""`, `"\u0000"`, `"\ud800"`,
	`"` + strings.Repeat("x", 5000) + `"`, `[]`, `{}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"":1}`, `"NaN"`, `"Infinity"`, `"2026-13-45T99:99:99Z"`, `"<script>"`, `"../../etc/passwd"`, `"running"`, `"complete"`,
	`{"type": "float", "low": 1, "high": 0}`, `{"type": "int", "low": 0, "high": 1e300, "log": true}`, `{"type": "categorical", "choices": []}`,
}

// mutateJSON changes a valid JSON text: a value swapped for a hostile one,
// a key dropped or renamed, bytes flipped, or the text cut short.
func mutateJSON(rng *rand.Rand, body string) string {
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return body
	}
	for range 1 + rng.IntN(3) {
		switch rng.IntN(10) {
		case 0:
			b := []byte(body)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
			return string(b)
		case 1:
			return body[:rng.IntN(len(body))]
		default:
			v = mutateValue(rng, v, 0)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body
	}
	out := buf.String()
	// Splice a raw hostile fragment where a marker was left: json.Marshal
	// cannot write 1e400 or lone surrogates itself.
	for strings.Contains(out, `"\u0001H"`) {
		out = strings.Replace(out, `"\u0001H"`, hostile[rng.IntN(len(hostile))], 1)
	}
	return out
}

func mutateValue(rng *rand.Rand, v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 || depth > 4 {
			return "\x01H"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(6) {
		case 0:
			delete(x, k)
		case 1:
			x[k+"_"] = x[k]
			delete(x, k)
		case 2:
			x[k] = "\x01H"
		default:
			x[k] = mutateValue(rng, x[k], depth+1)
		}
		return x
	case []any:
		if len(x) == 0 || rng.IntN(4) == 0 {
			return append(x, "\x01H")
		}
		i := rng.IntN(len(x))
		x[i] = mutateValue(rng, x[i], depth+1)
		return x
	default:
		return "\x01H"
	}
}

func mutatePath(rng *rand.Rand, path string) string {
	parts := strings.Split(path, "/")
	i := 3 + rng.IntN(max(1, len(parts)-3))
	if i >= len(parts) {
		i = len(parts) - 1
	}
	parts[i] = []string{"%00", "%ff", "-1", "0", "99999999999999999999", "..", "%2e%2e", strings.Repeat("a", 3000), "%e2%80%ae", "%20"}[rng.IntN(10)]
	return strings.Join(parts, "/")
}
