// Package runnertest starts what runner tests run against: a real tune
// service on a fresh Postgres database (pgtest), in process, and runners
// pointed at it, stopped when the test ends.
package runnertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/tuner"
)

// Env is one service on its own database.
type Env struct {
	T     testing.TB
	Store *postgres.Store
	URL   string
	API   *openapi.ClientWithResponses
}

// New starts a service on a fresh database. The reaper runs every 50 ms,
// so a lease moved past its expiry with Store.SetClockOffset is requeued
// at once.
func New(t testing.TB) *Env {
	t.Helper()
	e := Unstarted(t)
	e.Start(nil)
	return e
}

// Unstarted reserves an address for the service without serving on it:
// runners pointed at URL find nothing there until Start.
func Unstarted(t testing.TB) *Env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := &Env{T: t, Store: pgtest.New(t), URL: "http://" + addr}
	e.API, err = openapi.NewClientWithResponses(e.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Start serves the API on the reserved address; wrap, when not nil, wraps
// the handler (to inject faults).
func (e *Env) Start(wrap func(http.Handler) http.Handler) {
	t := e.T
	t.Helper()
	srv, err := service.New(service.Config{
		Store:        e.Store,
		Tuner:        tuner.New(e.Store),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReapInterval: 50 * time.Millisecond,
		LeasePoll:    50 * time.Millisecond,
		Insecure:     true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	// The address was free a moment ago; retry briefly in case the kernel
	// has not let go of it yet.
	var ln net.Listener
	for range 50 {
		if ln, err = net.Listen("tcp", strings.TrimPrefix(e.URL, "http://")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listening on %s: %v", e.URL, err)
	}
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close() })
}

// Do sends a JSON request and decodes a 2xx answer into out (when not
// nil); any other status fails the test.
func (e *Env) Do(method, path string, body, out any) {
	e.T.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.URL+"/api/v1"+path, r)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		e.T.Fatalf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("%s %s: decoding %s: %v", method, path, raw, err)
		}
	}
}

// CreateStudy creates a study from a JSON-able body.
func (e *Env) CreateStudy(body map[string]any) openapi.Study {
	e.T.Helper()
	var s openapi.Study
	e.Do("POST", "/studies", body, &s)
	return s
}

// Enqueue adds a waiting trial with fixed params.
func (e *Env) Enqueue(study string, params map[string]any) openapi.Trial {
	e.T.Helper()
	var tr openapi.Trial
	e.Do("POST", "/studies/"+study+"/trials", map[string]any{"params": params}, &tr)
	return tr
}

// Study reads a study.
func (e *Env) Study(ref string) openapi.Study {
	e.T.Helper()
	var s openapi.Study
	e.Do("GET", "/studies/"+ref, nil, &s)
	return s
}

// Trial reads a trial.
func (e *Env) Trial(id int64) openapi.Trial {
	e.T.Helper()
	var tr openapi.Trial
	e.Do("GET", fmt.Sprintf("/trials/%d", id), nil, &tr)
	return tr
}

// Trials lists a study's trials by number (up to 1000).
func (e *Env) Trials(study string) []openapi.Trial {
	e.T.Helper()
	var p openapi.TrialPage
	e.Do("GET", "/studies/"+study+"/trials?limit=1000", nil, &p)
	return p.Items
}

// Wait polls cond every 20 ms until it holds, failing the test after
// timeout, naming what was awaited.
func (e *Env) Wait(timeout time.Duration, what string, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitTrial waits until the trial satisfies cond and returns it.
func (e *Env) WaitTrial(id int64, timeout time.Duration, cond func(openapi.Trial) bool) openapi.Trial {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tr := e.Trial(id)
		if cond(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out after %s waiting for trial %d; last seen %+v", timeout, id, tr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Finished reports whether a trial reached a final state.
func Finished(tr openapi.Trial) bool {
	return tr.State == "complete" || tr.State == "pruned" || tr.State == "failed"
}

// Running is one runner started by StartRunner.
type Running struct {
	Runner *runner.Runner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Stop cancels the runner's context, as SIGTERM does, and waits for Run to
// return (its error goes to the test).
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(30 * time.Second):
			r.err = fmt.Errorf("Run did not return within 30 s of cancellation")
		}
	})
	if r.err != nil {
		t.Errorf("runner: %v", r.err)
	}
}

// StartRunner runs a runner against the service until the test ends (or
// Stop). It fills in what cfg leaves empty: the server, a test logger,
// one-second long polls and quick backoff.
func (e *Env) StartRunner(cfg runner.Config) *Running {
	t := e.T
	t.Helper()
	if cfg.Server == "" {
		cfg.Server = e.URL
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	if cfg.WaitSeconds == 0 {
		cfg.WaitSeconds = 1
	}
	if cfg.Backoff == (runner.Backoff{}) {
		cfg.Backoff = runner.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &Running{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { run.Stop(t) })
	return run
}

// Logger logs to the test's output (shown on failure or with -v) at debug
// level.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// LogBuffer is a concurrency-safe log sink for tests that check what was
// logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Alive reports whether pid is a live process. A zombie counts as gone: it
// has exited and only waits for its parent (init, for an orphan) to reap
// it.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state != 'Z' && state != 'X'
}
