package main

import (
	"net"
	"testing"
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
}
