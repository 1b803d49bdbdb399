package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/sql/postgres/pgtest"
)

// startServe runs `tune serve` in-process, as an operator would, and returns
// its URL and a function that stops it (like SIGTERM) and waits for it.
func startServe(t *testing.T, databaseURL string) (string, func()) {
	t.Helper()
	// Take a free port and hand it to serve; the race with another process
	// taking it meanwhile is harmless on a test machine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand()
		cmd.SetArgs([]string{"serve", "--addr", addr, "--database-url", databaseURL})
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
	url, stop := startServe(t, dbURL)
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
	url1, _ := startServe(t, dbURL)
	url2, _ := startServe(t, dbURL)
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
