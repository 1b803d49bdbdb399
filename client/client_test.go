package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
)

// server answers GET /api/v1/studies/{id} as told by the path's last
// segment, and records the headers of the last request.
func server(t *testing.T) (*httptest.Server, *http.Header) {
	t.Helper()
	var last http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = r.Header.Clone()
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"title": "Not Found", "status": 404, "detail": "no study \"missing\""}`))
		case strings.HasSuffix(r.URL.Path, "/busy"):
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"title": "Conflict", "status": 409, "detail": "the study is\n paused"}`))
		case strings.HasSuffix(r.URL.Path, "/proxy"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("\n<html>bad gateway</html>\nmore"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id": 7, "name": "ok", "extra": true}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &last
}

func get(t *testing.T, c *client.Client, ref string) (*openapi.Study, []byte, error) {
	t.Helper()
	rsp, err := c.API.GetStudyWithResponse(context.Background(), ref)
	return client.Decode[openapi.Study](c, client.Op{Name: "show study " + ref, Subject: "study " + ref}, rsp, err)
}

func TestAnswers(t *testing.T) {
	srv, last := server(t)
	c, err := client.New(srv.URL+"/api/v1/", client.WithUserAgent("tune-test"), client.WithToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server() != srv.URL {
		t.Errorf("Server() = %q, want %q", c.Server(), srv.URL)
	}

	study, raw, err := get(t, c, "ok")
	if err != nil || study.Id != 7 || !strings.Contains(string(raw), `"extra"`) {
		t.Errorf("ok: %+v, %s, %v", study, raw, err)
	}
	if got := last.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("Authorization = %q", got)
	}
	if got := last.Get("User-Agent"); got != "tune-test" {
		t.Errorf("User-Agent = %q", got)
	}

	_, _, err = get(t, c, "missing")
	if !client.IsNotFound(err) || client.IsConflict(err) || client.Transient(err) {
		t.Errorf("404: not found %v, conflict %v, transient %v", client.IsNotFound(err), client.IsConflict(err), client.Transient(err))
	}
	if err == nil || err.Error() != `study missing not found (404): no study "missing"` {
		t.Errorf("404 message: %v", err)
	}

	_, _, err = get(t, c, "busy")
	if !client.IsConflict(err) || err.Error() != "show study busy: conflict (409): the study is paused" {
		t.Errorf("409: %v", err)
	}

	_, _, err = get(t, c, "proxy")
	var e *client.Error
	if !errors.As(err, &e) || e.Problem || e.Status != http.StatusBadGateway || !client.Transient(err) {
		t.Fatalf("502 from a proxy: %#v", err)
	}
	if !strings.Contains(err.Error(), "not a tune API problem") || !strings.HasSuffix(err.Error(), ": <html>bad gateway</html>") {
		t.Errorf("502 message: %v", err)
	}
}

func TestNoTokenNoAuthorization(t *testing.T) {
	srv, last := server(t)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, c, "ok"); err != nil {
		t.Fatal(err)
	}
	if v, ok := (*last)["Authorization"]; ok {
		t.Errorf("Authorization sent without a token: %q", v)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := client.New(addr) // no scheme: http is assumed
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = get(t, c, "ok")
	var te *client.TransportError
	if !errors.As(err, &te) || te.NoAnswer() || te.Canceled() || !client.Transient(err) || client.StatusOf(err) != 0 {
		t.Errorf("refused connection: %#v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rsp, err := c.API.GetStudyWithResponse(ctx, "ok")
	err = c.Check(client.Op{Name: "show"}, rsp, err)
	if !errors.As(err, &te) || !te.Canceled() || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %#v", err)
	}
}

func TestParseServer(t *testing.T) {
	for in, want := range map[string]string{
		"tune.internal:8080":         "http://tune.internal:8080",
		" https://tune.example.com/": "https://tune.example.com",
		"http://host:8080/api/v1/":   "http://host:8080",
	} {
		if got, err := client.ParseServer(in); err != nil || got != want {
			t.Errorf("ParseServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://host", "http://"} {
		if got, err := client.ParseServer(bad); err == nil {
			t.Errorf("ParseServer(%q) = %q, want an error", bad, got)
		}
	}
	c, err := client.New("http://runner:hunter2@tune:8080")
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "hunter2") {
		t.Errorf("String() = %q shows the password", s)
	}
}

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"\n  \n  first  \nsecond", 100, "first"},
		{"ééééé", 3, "ééé…"},
		{"", 10, ""},
	} {
		if got := client.FirstLine(tc.in, tc.n); got != tc.want {
			t.Errorf("FirstLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestErrorsHideThePassword(t *testing.T) {
	srv, _ := server(t)
	c, err := client.New(strings.Replace(srv.URL, "://", "://u:hunter2@", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"proxy", "missing"} {
		if _, _, err := get(t, c, ref); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", ref, err)
		}
	}
}
