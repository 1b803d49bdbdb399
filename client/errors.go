package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Error is an answer other than 2xx: a problem+json document (Problem set,
// Title and Detail from it) or, from something that is not the tune API
// (a proxy, a wrong URL), anything else (Detail holds its first line).
type Error struct {
	// Op and Subject are the request's Op.
	Op, Subject string
	// Server is the root URL the request went to, without a password.
	Server string
	// Status is the HTTP status code, StatusText the status line's text
	// ("404 Not Found").
	Status     int
	StatusText string
	// Problem says whether the answer was a problem document.
	Problem       bool
	Title, Detail string
}

func (e *Error) Error() string {
	if !e.Problem {
		msg := fmt.Sprintf("%s: the server at %s answered %s, not a tune API problem (is --server right?)", e.Op, e.Server, e.StatusText)
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
		return msg
	}
	var b strings.Builder
	if e.Status == http.StatusNotFound && e.Subject != "" {
		fmt.Fprintf(&b, "%s not found (404)", e.Subject)
	} else {
		fmt.Fprintf(&b, "%s: %s (%d)", e.Op, strings.ToLower(e.Title), e.Status)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(OneLine(e.Detail))
	}
	return b.String()
}

// StatusOf is the HTTP status of the answer err reports, 0 when err is
// not an answer.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 answer.
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// Transient reports whether err may pass on retry: no answer at all
// (refused, reset, timed out), a server-side failure (5xx) or 429. Any
// other answer will not change.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return true
}

// TransportError is a request that got no HTTP answer.
type TransportError struct {
	// Op is the request's Op.Name; Server as in Error.
	Op, Server string
	// Err is the *url.Error the HTTP client returned.
	Err error
}

func (e *TransportError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *TransportError) Unwrap() error { return e.Err }

// Canceled reports whether the caller gave up (its context was cancelled):
// nothing to blame the server for.
func (e *TransportError) Canceled() bool { return errors.Is(e.Err, context.Canceled) }

// NoAnswer reports whether the connection was made, perhaps, but the
// server did not answer in time: "cannot reach" would mislead.
func (e *TransportError) NoAnswer() bool {
	var t interface{ Timeout() bool }
	if !errors.As(e.Err, &t) || !t.Timeout() {
		return false
	}
	var opErr *net.OpError
	return !(errors.As(e.Err, &opErr) && opErr.Op == "dial")
}

// FirstLine returns s's first non-empty line, trimmed and cut to at most n
// runes (an ellipsis marks the cut).
func FirstLine(s string, n int) string {
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if r := []rune(line); len(r) > n {
			line = string(r[:n]) + "…"
		}
		return line
	}
	return ""
}

// OneLine folds a multi-line text onto one line, for messages that are
// printed as a single line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
