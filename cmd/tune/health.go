package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/client"
)

// newHealthCommand checks a server's /healthz (or /readyz), for container
// healthchecks: the image has no curl, and needs none.
func newHealthCommand(opts *clientOptions) *cobra.Command {
	var ready bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that a tune server is up (exit 0) or not (exit 1)",
		Long: `Ask a tune server's /healthz (with --ready, /readyz: the database is
reachable too) and exit 0 when it answers 200, 1 otherwise. Made for
container healthchecks.`,
		Example: "  tune health --server http://127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := parseServer(opts.server)
			if err != nil {
				return err
			}
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			// With --wait, keep asking until the server is up or the wait is
			// over: scripts start a server and wait for it this way.
			deadline := time.Now().Add(wait)
			for {
				body, err := checkHealth(cmd.Context(), root, path)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), body)
					return nil
				}
				if time.Now().After(deadline) || cmd.Context().Err() != nil {
					return err
				}
				select {
				case <-cmd.Context().Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "check /readyz (the database too) instead of /healthz")
	cmd.Flags().DurationVar(&wait, "wait", 0, "keep asking for up to this long, e.g. 30s, until the server is up")
	return cmd
}

// checkHealth asks one health endpoint and returns its body when it
// answers 200.
func checkHealth(ctx context.Context, root, path string) (string, error) {
	endpoint := root + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	rsp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if err != nil {
		return "", fmt.Errorf("the tune server at %s is not answering: %w", root, err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(rsp.Body, 512))
	if rsp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s: %s", endpoint, rsp.Status, client.FirstLine(string(body), 200))
	}
	return strings.TrimSpace(string(body)), nil
}
