package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newHealthCommand checks a server's /healthz (or /readyz), for container
// healthchecks: the image has no curl, and needs none.
func newHealthCommand(opts *clientOptions) *cobra.Command {
	var ready bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that a tune server is up (exit 0) or not (exit 1)",
		Long: `Ask a tune server's /healthz (with --ready, /readyz: the database is
reachable too) and exit 0 when it answers 200, 1 otherwise. Made for
container healthchecks.`,
		Example: "  tune health --server http://127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := resolveServer(opts.server, cmd.Flags().Changed("server"), os.Getenv(serverEnv))
			if err != nil {
				return err
			}
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, root+path, nil)
			if err != nil {
				return err
			}
			rsp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			if err != nil {
				return fmt.Errorf("the tune server at %s is not answering: %w", root, err)
			}
			defer rsp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(rsp.Body, 512))
			if rsp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s%s answered %s: %s", root, path, rsp.Status, firstLine(string(body), 200))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return nil
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "check /readyz (the database too) instead of /healthz")
	return cmd
}
