package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/openapi"
)

// defaultServer is where `tune serve` listens unless told otherwise.
const defaultServer = "http://" + defaultServeAddr

// serverEnv names the environment variable that points the client
// commands at a server when --server is not given.
const serverEnv = "TUNE_SERVER"

// apiPrefix is where the v1 API lives under the server's root; users give
// the root, as they would type it in a browser.
const apiPrefix = "/api/v1"

// requestTimeout bounds one request. Every client command is a single short
// call (ask included: a suggestion takes milliseconds), so a server that
// does not answer within it is stuck, not busy.
const requestTimeout = time.Minute

// clientOptions holds the persistent flags shared by every client command.
type clientOptions struct {
	server string
	output outputFormat
}

// addClientCommands adds the commands that talk to a tune server through
// the generated API client: study, trial, ask, tell and enqueue, and the
// persistent --server and --output flags they read.
func addClientCommands(root *cobra.Command) {
	opts := &clientOptions{output: outputTable}
	pf := root.PersistentFlags()
	pf.StringVar(&opts.server, "server", defaultServer,
		"the tune server's URL, else $"+serverEnv)
	pf.VarP(&opts.output, "output", "o", "output format: table or json")
	addTokenFlag(root)

	root.AddCommand(
		newStudyCommand(opts),
		newTrialCommand(opts),
		newAskCommand(opts),
		newTellCommand(opts),
		newEnqueueCommand(opts),
		newHealthCommand(opts),
		newTokenCommand(opts),
	)
}

// apiClient is the generated client plus what error messages need to say
// where the server is.
type apiClient struct {
	api    *openapi.ClientWithResponses
	server string
	output outputFormat
}

// connect builds the API client for one command run. Nothing is sent yet:
// an unreachable server shows up on the first call, with advice.
func (o *clientOptions) connect(cmd *cobra.Command) (*apiClient, error) {
	server, err := resolveServer(o.server, cmd.Flags().Changed("server"), os.Getenv(serverEnv))
	if err != nil {
		return nil, err
	}
	token, err := clientToken(cmd, server)
	if err != nil {
		return nil, err
	}
	api, err := openapi.NewClientWithResponses(server+apiPrefix,
		openapi.WithHTTPClient(withToken(&http.Client{Timeout: requestTimeout}, token)),
		openapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("User-Agent", "tune-cli")
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("invalid server URL %q: %w", server, err)
	}
	return &apiClient{api: api, server: server, output: o.output}, nil
}

// resolveServer picks the server's root URL: the flag when given, else the
// environment, else the default. It forgives a missing scheme, a trailing
// slash and a pasted /api/v1 suffix, all easy to type by mistake.
func resolveServer(flagValue string, flagChanged bool, envValue string) (string, error) {
	server := flagValue
	if !flagChanged && envValue != "" {
		server = envValue
	}
	server = strings.TrimSpace(server)
	if server == "" {
		return "", errors.New("empty server URL: set --server or " + serverEnv)
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	server = strings.TrimRight(server, "/")
	server = strings.TrimSuffix(server, apiPrefix)
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

// apiResponse is what every generated *XResponse offers, whatever its
// operation: enough to turn it into a typed body or an error generically.
type apiResponse interface {
	StatusCode() int
	Status() string
	ContentType() string
	GetBody() []byte
}

// call names one request for error messages.
type call struct {
	// op says what was being done, e.g. `ask study "mnist"`.
	op string
	// subject is what a 404 is about, e.g. `study "mnist"`; empty when a
	// 404 can only mean a broken route.
	subject string
}

func studyCall(verb, ref string) call {
	subject := fmt.Sprintf("study %q", ref)
	return call{op: verb + " " + subject, subject: subject}
}

func trialCall(verb string, id int64) call {
	subject := fmt.Sprintf("trial %d", id)
	return call{op: verb + " " + subject, subject: subject}
}

// decode turns a generated response (and the error its call returned) into
// the typed body and the raw JSON the server sent, or into an error that
// fits on one line. The raw JSON is what -o json prints, so scripts see
// exactly what the API answered, fields this client does not know included.
func decode[T any](c *apiClient, what call, rsp apiResponse, err error) (*T, []byte, error) {
	if err := c.check(what, rsp, err); err != nil {
		return nil, nil, err
	}
	body := rsp.GetBody()
	if len(body) == 0 {
		return nil, nil, fmt.Errorf("%s: the tune server at %s answered %s with no body", what.op, c.server, rsp.Status())
	}
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, nil, fmt.Errorf("%s: unreadable answer from the tune server at %s: %w", what.op, c.server, err)
	}
	return &v, body, nil
}

// check returns nil for a 2xx answer and a one-line error for anything
// else: a transport failure, a problem+json answer, or something that is
// not the tune API at all.
func (c *apiClient) check(what call, rsp apiResponse, err error) error {
	if err != nil {
		return c.transportError(what, err)
	}
	status := rsp.StatusCode()
	if status >= 200 && status < 300 {
		return nil
	}
	var p openapi.Problem
	if strings.Contains(rsp.ContentType(), "json") && json.Unmarshal(rsp.GetBody(), &p) == nil && p.Title != "" {
		e := &apiError{op: what.op, subject: what.subject, status: status, title: p.Title}
		if p.Detail != nil {
			e.detail = *p.Detail
		}
		return e
	}
	// No problem document: a proxy, or --server points at something that
	// is not a tune server. Show a bit of what came back to help tell which.
	msg := fmt.Sprintf("%s: the server at %s answered %s, not a tune API problem (is --server right?)", what.op, c.server, rsp.Status())
	if snippet := firstLine(string(rsp.GetBody()), 200); snippet != "" {
		msg += ": " + snippet
	}
	return errors.New(msg)
}

// transportError explains an error that came back instead of a response.
func (c *apiClient) transportError(what call, err error) error {
	// Interrupted (Ctrl-C): say so plainly rather than blame the server.
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what.op, err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		var opErr *net.OpError
		if uerr.Timeout() && !(errors.As(err, &opErr) && opErr.Op == "dial") {
			// Connected, perhaps, but no answer: "cannot reach" and its
			// advice to start the server would mislead.
			return fmt.Errorf("%s: the tune server at %s did not answer within %v", what.op, c.server, requestTimeout)
		}
		return &unreachableError{server: c.server, cause: uerr.Err}
	}
	// The generated client failed to parse an answer it had received.
	return fmt.Errorf("%s: unreadable answer from the tune server at %s: %w", what.op, c.server, err)
}

// apiError is a problem+json answer from the server.
type apiError struct {
	op, subject string
	status      int
	title       string
	detail      string
}

func (e *apiError) Error() string {
	var b strings.Builder
	if e.status == http.StatusNotFound && e.subject != "" {
		fmt.Fprintf(&b, "%s not found (404)", e.subject)
	} else {
		fmt.Fprintf(&b, "%s: %s (%d)", e.op, strings.ToLower(e.title), e.status)
	}
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.detail))
	}
	return b.String()
}

// unreachableError is a request that never got an HTTP answer.
type unreachableError struct {
	server string
	cause  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the tune server at %s: %v; start it with 'tune serve' or set --server/%s",
		e.server, e.cause, serverEnv)
}

func (e *unreachableError) Unwrap() error { return e.cause }

// firstLine returns s's first non-empty line, cut to at most n runes.
func firstLine(s string, n int) string {
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

// oneLine folds a multi-line detail onto one line, since main prints every
// error as a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
