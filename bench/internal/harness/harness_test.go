package harness

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tune-dev/tune/sql/sqlite"
)

// TestServe serves the real service over the embedded store, checks that a
// caller without a token is let in (the benchmarks carry none) and that
// Close stops the listener.
func TestServe(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "tune.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Serve(store)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q, want loopback", s.URL)
	}
	body := `{"name":"h","objective":{"metric":"loss"},"search_space":{"x":{"type":"float","low":0,"high":1}}}`
	resp, err := http.Post(s.URL+"/api/v1/studies", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating a study without a token: %s", resp.Status)
	}
	s.Close(context.Background())
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Error("the server still answers after Close")
	}
}
