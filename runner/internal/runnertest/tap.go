package runnertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/tune-dev/tune/openapi"
)

// Tap sits in front of the service: it keeps the last tell each trial
// received, as the runner sent it, and can change the study that lease
// grants carry, so that a test sees exactly what a runner told and can
// show runners a study shape the service does not store.
type Tap struct {
	mu    sync.Mutex
	tells map[int64]openapi.TellRequest
	grant func(study map[string]any)
}

// StartTapped serves the API behind a new Tap.
func (e *Env) StartTapped() *Tap {
	e.T.Helper()
	tp := &Tap{tells: map[int64]openapi.TellRequest{}}
	e.Start(tp.wrap)
	return tp
}

// RewriteGrants has f edit the study of every lease grant (decoded as
// JSON) before the runner gets it.
func (tp *Tap) RewriteGrants(f func(study map[string]any)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.grant = f
}

// Tell is the last tell trial id received, and whether it received one.
func (tp *Tap) Tell(id int64) (openapi.TellRequest, bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tr, ok := tp.tells[id]
	return tr, ok
}

// FailureKind is the failure_kind of the last tell trial id received; ""
// when it had none (or no tell came). Where the service returns the
// trial's failure_kind, it must agree with the tell.
func (tp *Tap) FailureKind(e *Env, id int64) string {
	e.T.Helper()
	tell, _ := tp.Tell(id)
	told := ""
	if tell.FailureKind != nil {
		told = string(*tell.FailureKind)
	}
	if tr := e.Trial(id); tr.FailureKind != nil && string(*tr.FailureKind) != told {
		e.T.Errorf("trial %d: the service says failure_kind %q, the runner told %q", id, *tr.FailureKind, told)
	}
	return told
}

func (tp *Tap) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/api/v1")
		if id, ok := strings.CutPrefix(path, "/trials/"); ok && r.Method == http.MethodPost && strings.HasSuffix(id, "/tell") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var tell openapi.TellRequest
			if n, err := strconv.ParseInt(strings.TrimSuffix(id, "/tell"), 10, 64); err == nil && json.Unmarshal(body, &tell) == nil {
				tp.mu.Lock()
				tp.tells[n] = tell
				tp.mu.Unlock()
			}
		}
		tp.mu.Lock()
		grant := tp.grant
		tp.mu.Unlock()
		if path != "/leases" || grant == nil {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var g map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &g) == nil {
			if s, ok := g["study"].(map[string]any); ok {
				grant(s)
				body, _ = json.Marshal(g)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}
