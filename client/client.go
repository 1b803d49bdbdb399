// Package client is the Go client of the tune API that the runner, the CLI
// and the demo share: the generated openapi client behind one constructor
// (server URL, user agent, bearer token), one error type for answers other
// than 2xx, and the classification of failures that retries need.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tune-dev/tune/openapi"
)

// APIPrefix is where the v1 API lives under the server's root; users give
// the root, as they would type it in a browser.
const APIPrefix = "/api/v1"

// Client is the generated API client bound to one tune server.
type Client struct {
	// API is the generated client; its methods send the requests.
	API    *openapi.ClientWithResponses
	server string
}

// Option configures New.
type Option func(*options)

type options struct {
	http      openapi.HttpRequestDoer
	userAgent string
	token     string
}

// WithHTTPClient sends the requests through c (timeouts, transport).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

// WithUserAgent names the caller in the User-Agent header.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithToken sends token as `Authorization: Bearer` on every request; an
// empty token sends none.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// New builds a client for the server at root (see ParseServer for what it
// forgives). Nothing is sent yet.
func New(root string, opts ...Option) (*Client, error) {
	server, err := ParseServer(root)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	copts := []openapi.ClientOption{
		openapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if o.userAgent != "" {
				req.Header.Set("User-Agent", o.userAgent)
			}
			if o.token != "" {
				req.Header.Set("Authorization", "Bearer "+o.token)
			}
			return nil
		}),
	}
	if o.http != nil {
		copts = append(copts, openapi.WithHTTPClient(o.http))
	}
	api, err := openapi.NewClientWithResponses(server+APIPrefix, copts...)
	if err != nil {
		return nil, fmt.Errorf("invalid server URL %q: %w", server, err)
	}
	return &Client{API: api, server: server}, nil
}

// Server is the server's root URL, normalized; String is the one to show.
func (c *Client) Server() string { return c.server }

// ParseServer normalizes a server's root URL. It forgives a missing scheme,
// surrounding space, a trailing slash and a pasted /api/v1 suffix, all easy
// to type by mistake, and refuses anything but an http(s) URL with a host.
func ParseServer(raw string) (string, error) {
	server := strings.TrimSpace(raw)
	if server == "" {
		return "", errors.New("empty server URL")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	server = strings.TrimRight(server, "/")
	server = strings.TrimSuffix(server, APIPrefix)
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("invalid server URL %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("invalid server URL %q: the scheme must be http or https", server)
	}
	if u.Host == "" {
		return "", fmt.Errorf("invalid server URL %q: no host", server)
	}
	return server, nil
}

// Response is what every generated *XResponse offers, whatever its
// operation: enough to turn it into a typed body or an error generically.
type Response interface {
	StatusCode() int
	Status() string
	ContentType() string
	GetBody() []byte
}

// Op names one request for error messages.
type Op struct {
	// Name says what was being done, e.g. `ask study "mnist"`.
	Name string
	// Subject is what a 404 is about, e.g. `study "mnist"`; empty when a
	// 404 can only mean a broken route.
	Subject string
}

// Check returns nil for a 2xx answer; an *Error for any other answer; a
// *TransportError when no answer came (err from the generated call is a
// *url.Error); and, when the generated client could not read an answer it
// received, an error saying so.
func (c *Client) Check(op Op, rsp Response, err error) error {
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return &TransportError{Op: op.Name, Server: c.String(), Err: err}
		}
		return fmt.Errorf("%s: unreadable answer from the tune server at %s: %w", op.Name, c, err)
	}
	status := rsp.StatusCode()
	if status >= 200 && status < 300 {
		return nil
	}
	e := &Error{Op: op.Name, Subject: op.Subject, Server: c.String(), Status: status, StatusText: rsp.Status()}
	var p openapi.Problem
	if strings.Contains(rsp.ContentType(), "json") && json.Unmarshal(rsp.GetBody(), &p) == nil && p.Title != "" {
		e.Problem = true
		e.Title = p.Title
		if p.Detail != nil {
			e.Detail = *p.Detail
		}
		return e
	}
	// No problem document: a proxy, or a URL that is not a tune server.
	// Keep a bit of what came back to help tell which.
	e.Detail = FirstLine(string(rsp.GetBody()), 200)
	return e
}

// Decode turns a generated response (and the error its call returned) into
// the typed body and the raw JSON the server sent, or into Check's error.
// The raw JSON is what callers print for scripts, so that they see exactly
// what the API answered, fields this client does not know included.
func Decode[T any](c *Client, op Op, rsp Response, err error) (*T, []byte, error) {
	if err := c.Check(op, rsp, err); err != nil {
		return nil, nil, err
	}
	body := rsp.GetBody()
	if len(body) == 0 {
		return nil, nil, fmt.Errorf("%s: the tune server at %s answered %s with no body", op.Name, c, rsp.Status())
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, nil, fmt.Errorf("%s: unreadable answer from the tune server at %s: %w", op.Name, c, err)
	}
	return &v, body, nil
}

// String is the server's root URL without a password, for logs.
func (c *Client) String() string {
	u, err := url.Parse(c.server)
	if err != nil {
		return c.server
	}
	return u.Redacted()
}
