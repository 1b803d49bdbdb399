package service_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDashboardRoutes checks the wiring only; web/browser_test.go runs the
// dashboard itself in a browser.
func TestDashboardRoutes(t *testing.T) {
	e := newEnv(t)
	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", e.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, path := range []string{"/", "/studies/1", "/studies/mnist-speed", "/studies/7/trials/12"} {
		resp, body := get(path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `<script src="/assets/app.js">`) {
			t.Errorf("GET %s = %d %s, want the dashboard's index.html", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q lets the page load from elsewhere", path, csp)
		}
	}
	for path, ctype := range map[string]string{
		"/assets/app.js":                         "text/javascript",
		"/assets/style.css":                      "text/css",
		"/assets/vendor/echarts/echarts.min.js":  "text/javascript",
		"/assets/vendor/echarts/LICENSE":         "text/plain",
		"/assets/vendor/echarts/LICENSE-zrender": "text/plain",
	} {
		resp, body := get(path)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || body == "" {
			t.Errorf("GET %s = %d %q, want %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), ctype)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s has no ETag", path)
			continue
		}
		if again, _ := get(path, "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", path, again.StatusCode)
		}
	}
	resp, body := get("/assets/vendor/echarts/echarts.min.js", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(body) > 600<<10 {
		t.Errorf("echarts.min.js with gzip: encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}

	// Paths that are neither pages nor assets stay 404s, as problem+json.
	for _, path := range []string{"/nope", "/studies", "/studies/1/extra", "/studies/1/trials/x/y", "/assets/", "/assets/nope.js", "/assets/index.html", "/api/v1/nope"} {
		e.mustDo("GET", path, "", http.StatusNotFound, nil)
	}
	e.mustDo("GET", "/api/v1/studies", "", http.StatusOK, nil)
	e.mustDo("GET", "/healthz", "", http.StatusOK, nil)
}
