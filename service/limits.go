package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// InputLimits bound what one request may carry before anything parses it
// for real. The request validator builds a full tree of every JSON body and
// recurses over it, so a small body nested thousands deep costs seconds of
// CPU and gigabytes of memory there; and a NUL byte or invalid UTF-8 in any
// string is refused by Postgres deep inside a write. A linear pre-scan
// refuses both cheaply and the same way on every store.
type InputLimits struct {
	// MaxDepth is the deepest nesting of objects and arrays (default 32).
	MaxDepth int
	// MaxString is the longest string, in bytes, a body may hold (default
	// 64 KiB: a trial's error keeps 4 KB, so this is generous).
	MaxString int
	// MaxKey is the longest object key, in bytes (default 256): keys are
	// param and metric names.
	MaxKey int
	// MaxValues is the most values (scalars, objects and arrays) in one
	// body (default 100,000).
	MaxValues int
}

func (l InputLimits) withDefaults() InputLimits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxString <= 0 {
		l.MaxString = 64 << 10
	}
	if l.MaxKey <= 0 {
		l.MaxKey = 256
	}
	if l.MaxValues <= 0 {
		l.MaxValues = 100_000
	}
	return l
}

// inputError is a request refused by the pre-scan: a 400 with the reason,
// or a 413 for a body that holds more than the limits allow.
func inputError(status int, format string, args ...any) error {
	return echo.NewHTTPError(status, fmt.Sprintf(format, args...))
}

// checkInput is middleware that refuses hostile input before routing binds
// or validates it: NUL bytes or invalid UTF-8 in the path or query, and
// JSON bodies that are too deep, too long in one string, too many values,
// not UTF-8, or carrying NUL. The body has already passed the size limit.
func checkInput(lim InputLimits) echo.MiddlewareFunc {
	lim = lim.withDefaults()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if err := checkURL(r.URL); err != nil {
				return err
			}
			if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
				return next(c)
			}
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				var he *echo.HTTPError
				if errors.As(err, &he) {
					return he
				}
				if err.Error() == "http: request body too large" {
					return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
				}
				return inputError(http.StatusBadRequest, "reading the request body: %v", err)
			}
			if isJSON(r.Header.Get(echo.HeaderContentType)) || len(bytes.TrimSpace(body)) > 0 {
				if err := scanJSON(body, lim); err != nil {
					return err
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			return next(c)
		}
	}
}

func isJSON(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// checkURL refuses a path or query that decodes to NUL or invalid UTF-8:
// a study name or cursor like that can only fail later, in the database.
func checkURL(u *url.URL) error {
	path := u.Path
	if !textOK(path) {
		return inputError(http.StatusBadRequest, "the request path holds a NUL byte or is not valid UTF-8")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return inputError(http.StatusBadRequest, "the query string is malformed: %v", err)
	}
	for k, vs := range q {
		if !textOK(k) {
			return inputError(http.StatusBadRequest, "a query parameter's name holds a NUL byte or is not valid UTF-8")
		}
		for _, v := range vs {
			if !textOK(v) {
				return inputError(http.StatusBadRequest, "query parameter %q holds a NUL byte or is not valid UTF-8", k)
			}
		}
	}
	return nil
}

func textOK(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// scanJSON walks a JSON text once, token by token, and refuses it when it
// breaks a limit. Syntax errors are left to the real decoder, which words
// them for the client; only what the limits forbid is refused here.
func scanJSON(body []byte, lim InputLimits) error {
	if !utf8.Valid(body) {
		return inputError(http.StatusBadRequest, "the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// One frame per open object or array; in an object, tokens alternate
	// key and value.
	type frame struct{ object, wantKey bool }
	var stack []frame
	values := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// Malformed JSON: the validator or binder reports it in full.
			return nil
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		isKey := false
		if n := len(stack); n > 0 && stack[n-1].object {
			isKey = stack[n-1].wantKey
			stack[n-1].wantKey = !isKey
		}
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			stack = append(stack, frame{object: v == '{', wantKey: v == '{'})
			if len(stack) > lim.MaxDepth {
				return inputError(http.StatusBadRequest, "the request body nests deeper than %d levels", lim.MaxDepth)
			}
		case string:
			if strings.ContainsRune(v, 0) {
				return inputError(http.StatusBadRequest, "a string in the request body holds a NUL character (\\u0000)")
			}
			if isKey {
				if len(v) > lim.MaxKey {
					return inputError(http.StatusBadRequest, "a key in the request body is %d bytes long; keys (param and metric names) may be at most %d", len(v), lim.MaxKey)
				}
				continue
			}
			if len(v) > lim.MaxString {
				return inputError(http.StatusBadRequest, "a string in the request body is %d bytes long; the server accepts at most %d", len(v), lim.MaxString)
			}
		}
		if values++; values > lim.MaxValues {
			return inputError(http.StatusRequestEntityTooLarge, "the request body holds more than %d values", lim.MaxValues)
		}
	}
}

// checkLoopbackHost refuses, on a connection made to a loopback address,
// any request whose Host or Origin names another machine. A page on
// another site can point a name it controls at 127.0.0.1 (DNS rebinding)
// and then read the dashboard's API as if it were same-origin; it cannot
// make the browser send a loopback Host or Origin while doing so.
func checkLoopbackHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !ok || !isLoopbackAddr(local.String()) {
			return next(c)
		}
		if !isLoopbackHost(r.Host) {
			return inputError(http.StatusForbidden, "this server listens on loopback only, and Host %q is not a loopback name; use http://127.0.0.1 or http://localhost", r.Host)
		}
		if o := r.Header.Get("Origin"); o != "" && o != "null" {
			u, err := url.Parse(o)
			if err != nil || !isLoopbackHost(u.Host) {
				return inputError(http.StatusForbidden, "requests from pages of other sites (Origin %q) are refused by a server on loopback", o)
			}
		}
		return next(c)
	}
}

func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost says whether a Host header (name or address, with or
// without a port) names this machine's loopback interface.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
