package main

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}
	if out := c.ok("health"); out != "ok\n" {
		t.Errorf("tune health printed %q, want ok", out)
	}
	c.ok("health", "--ready")

	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down := cli{t: t, server: "http://" + addr}
	msg := down.fails("health")
	wantContains(t, "health of a dead server", msg, "the tune server at http://"+addr+" is not answering", "refused")

	// --wait keeps asking until the server comes up.
	done := make(chan string, 1)
	go func() {
		out, _, err := down.run(nil, "health", "--wait", "30s")
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	time.Sleep(300 * time.Millisecond)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	if out := <-done; out != "ok\n" {
		t.Errorf("health --wait printed %q, want ok once the server is up", out)
	}
}
