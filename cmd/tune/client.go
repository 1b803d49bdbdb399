package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/client"
)

// defaultServer is where `tune serve` listens unless told otherwise.
const defaultServer = "http://" + defaultServeAddr

// serverEnv names the environment variable that points the client
// commands at a server when --server is not given.
const serverEnv = "TUNE_SERVER"

// apiPrefix is where the v1 API lives under the server's root.
const apiPrefix = client.APIPrefix

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
	bind(pf, "server", &opts.server)
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

// apiClient is the shared API client plus the output format the command
// prints in.
type apiClient struct {
	*client.Client
	output outputFormat
}

// connect builds the API client for one command run. Nothing is sent yet:
// an unreachable server shows up on the first call, with advice.
func (o *clientOptions) connect(cmd *cobra.Command) (*apiClient, error) {
	server, err := parseServer(o.server)
	if err != nil {
		return nil, err
	}
	token, err := clientToken(cmd, server)
	if err != nil {
		return nil, err
	}
	return newAPIClient(server, token, o.output)
}

// newAPIClient is the CLI's client of the server at root.
func newAPIClient(root, token string, output outputFormat) (*apiClient, error) {
	c, err := client.New(root,
		client.WithToken(token),
		client.WithHTTPClient(&http.Client{Timeout: requestTimeout}),
		client.WithUserAgent("tune-cli"))
	if err != nil {
		return nil, err
	}
	return &apiClient{Client: c, output: output}, nil
}

// resolveServer picks the server's root URL as every setting is picked
// (pick), and normalizes it (client.ParseServer says what it forgives).
func resolveServer(flagValue string, flagChanged bool, envValue string) (string, error) {
	return parseServer(pick(flagValue, flagChanged, envValue))
}

// parseServer normalizes a resolved --server.
func parseServer(server string) (string, error) {
	if strings.TrimSpace(server) == "" {
		return "", errors.New("empty server URL: set --server or " + serverEnv)
	}
	return client.ParseServer(server)
}

// call names one request for error messages.
type call = client.Op

func studyCall(verb, ref string) call {
	subject := fmt.Sprintf("study %q", ref)
	return call{Name: verb + " " + subject, Subject: subject}
}

func trialCall(verb string, id int64) call {
	subject := fmt.Sprintf("trial %d", id)
	return call{Name: verb + " " + subject, Subject: subject}
}

// decode is client.Decode with the CLI's advice on transport failures.
func decode[T any](c *apiClient, what call, rsp client.Response, err error) (*T, []byte, error) {
	v, raw, err := client.Decode[T](c.Client, what, rsp, err)
	return v, raw, c.explain(err)
}

// check is Client.Check with the CLI's advice on transport failures.
func (c *apiClient) check(what call, rsp client.Response, err error) error {
	return c.explain(c.Check(what, rsp, err))
}

// explain rewords a request that got no answer for a person at a terminal;
// other errors pass unchanged.
func (c *apiClient) explain(err error) error {
	var te *client.TransportError
	if !errors.As(err, &te) || te.Canceled() {
		// Interrupted (Ctrl-C): say so plainly rather than blame the server.
		return err
	}
	if te.NoAnswer() {
		return fmt.Errorf("%s: the tune server at %s did not answer within %v", te.Op, c, requestTimeout)
	}
	cause := te.Err
	var uerr *url.Error
	if errors.As(cause, &uerr) {
		cause = uerr.Err
	}
	return &unreachableError{server: c.String(), cause: cause}
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
