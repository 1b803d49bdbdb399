package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/sql/postgres/pgtest"
)

// startServe runs `tune serve args...` in-process, as an operator would,
// and returns its URL and a function that stops it (like SIGTERM) and
// waits for it.
func startServe(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	// Take a free port and hand it to serve; the race with another process
	// taking it meanwhile is harmless on a test machine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	if _, ok := flagValue(args, "--data-dir"); !ok && os.Getenv("TUNE_DATA_DIR") == "" {
		// Each server its own token file, never the tester's ~/.tune.
		args = append(args, "--data-dir", t.TempDir())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand()
		cmd.SetArgs(append([]string{"serve", "--addr", addr}, args...))
		done <- cmd.ExecuteContext(ctx)
	}()
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("tune serve exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("tune serve did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rememberToken(t, url, args)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tune serve returned %v on shutdown", err)
		}
	}
	t.Cleanup(stop)
	return url, stop
}

// TestServeMigratesAndSurvivesRestart starts `tune serve` on an empty
// database (it must migrate it), uses it through the CLI, restarts it, and
// finds everything still there; two replicas starting at once on a fresh
// database both come up.
func TestServeMigratesAndSurvivesRestart(t *testing.T) {
	dbURL := pgtest.EmptyURL(t)
	url, stop := startServe(t, "--database-url", dbURL)
	c := cli{t: t, server: url}
	path := writeFile(t, "study.json", `{"name": "restart", "objective": {"metric": "loss"},
		"search_space": {"x": {"type": "float", "low": -5, "high": 5}}}`)
	c.ok("study", "create", "-f", path)
	out := c.ok("ask", "restart")
	if !strings.Contains(out, "x") {
		t.Fatalf("ask printed %q", out)
	}
	stop()

	// Restart, and a second replica at the same time.
	url1, _ := startServe(t, "--database-url", dbURL)
	url2, _ := startServe(t, "--database-url", dbURL)
	for _, u := range []string{url1, url2} {
		got := cli{t: t, server: u}.ok("study", "show", "restart")
		wantContains(t, "study show after restart", got, "restart", "running")
	}
	c = cli{t: t, server: url2}
	c.ok("tell", firstTrialID(t, cli{t: t, server: url1}, "restart"), "--value", "1.5")
	wantContains(t, "best after restart", c.ok("study", "best", "restart"), "1.5")
}

func firstTrialID(t *testing.T, c cli, study string) string {
	t.Helper()
	var page struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	c.json(&page, "trial", "list", study)
	if len(page.Items) == 0 {
		t.Fatalf("study %s has no trials", study)
	}
	return strconv.FormatInt(page.Items[0].ID, 10)
}

// embedded are the arguments that start `tune serve` on the embedded store
// in dir, whatever TUNE_DATABASE_URL says.
func embedded(dir string) []string { return []string{"--database-url=", "--data-dir", dir} }

// TestServeEmbeddedStore starts `tune serve` without a database URL: it
// creates the data dir and its database file, serves, and keeps its
// studies across a restart.
func TestServeEmbeddedStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	url, stop := startServe(t, embedded(dir)...)
	c := cli{t: t, server: url}
	path := writeFile(t, "study.json", `{"name": "local", "objective": {"metric": "loss"},
		"search_space": {"x": {"type": "float", "low": -5, "high": 5}}}`)
	c.ok("study", "create", "-f", path)
	c.ok("ask", "local")
	stop()

	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data dir mode %v, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(dir, "tune.db")); err != nil {
		t.Errorf("database file: %v", err)
	}

	url, _ = startServe(t, embedded(dir)...)
	c = cli{t: t, server: url}
	wantContains(t, "study show after restart", c.ok("study", "show", "local"), "local", "running")
	c.ok("tell", firstTrialID(t, c, "local"), "--value", "0.5")
	wantContains(t, "best after restart", c.ok("study", "best", "local"), "0.5")
}

// TestServeRateLimit: --rate-limit bounds each caller's requests, with a
// 429 that says the limit; -1 turns it off.
func TestServeRateLimit(t *testing.T) {
	burst := func(url string) (limited int, detail string) {
		for range 60 {
			rsp, err := http.Get(url + "/api/v1/studies")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusTooManyRequests {
				limited++
				detail = string(body)
			}
		}
		return limited, detail
	}
	url, stop := startServe(t, append(embedded(filepath.Join(t.TempDir(), "data")), "--rate-limit", "2")...)
	if n, detail := burst(url); n == 0 || !strings.Contains(detail, "at most 2 a second") {
		t.Errorf("--rate-limit 2: %d of 60 requests refused (%s), want the ones past the burst of 20", n, detail)
	}
	stop()
	url, _ = startServe(t, append(embedded(filepath.Join(t.TempDir(), "data")), "--rate-limit", "-1")...)
	if n, _ := burst(url); n != 0 {
		t.Errorf("--rate-limit -1: %d of 60 requests refused, want none", n)
	}
}

// TestServeRefusesOutdatedSchema: with --migrate=false, serve will not run
// on a schema older than its own, on either store; `tune migrate` brings it
// up to date, after which serve starts.
func TestServeRefusesOutdatedSchema(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"postgres", []string{"--database-url", pgtest.EmptyURL(t)}},
		{"embedded", embedded(filepath.Join(t.TempDir(), "data"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCommand()
			cmd.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--migrate=false"}, tc.args...))
			err := cmd.ExecuteContext(t.Context())
			if err == nil || !strings.Contains(err.Error(), "tune migrate") {
				t.Fatalf("serve on an unmigrated database = %v, want a refusal naming tune migrate", err)
			}
			out := cli{t: t}.ok(append([]string{"migrate"}, tc.args...)...)
			m := regexp.MustCompile(`schema at version (\d+) of (\d+)\n$`).FindStringSubmatch(out)
			if m == nil || m[1] != m[2] || m[1] == "0" {
				t.Errorf("tune migrate printed %q, want the schema at its latest version", out)
			}
			url, _ := startServe(t, append([]string{"--migrate=false"}, tc.args...)...)
			cli{t: t, server: url}.ok("study", "list")
		})
	}
}
