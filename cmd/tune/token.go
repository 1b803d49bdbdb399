package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/openapi"
)

func newTokenCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (admin)",
		Long: `Every API call carries a bearer token. A token has a name (shown on the
studies and trials it makes) and scopes:

  admin   everything, tokens included
  write   create, change and delete studies and trials; ask and tell
  read    GET only: dashboards, reports
  runner  lease trials, and heartbeat, report and tell the trials it holds
          (with their lease token); read studies and trials

The first 'tune serve' writes an admin token to <data-dir>/token; commands
on that machine use it without configuration. Elsewhere pass --token or set
TUNE_TOKEN.`,
	}
	cmd.AddCommand(newTokenCreateCommand(opts), newTokenListCommand(opts), newTokenRevokeCommand(opts))
	return cmd
}

func newTokenCreateCommand(opts *clientOptions) *cobra.Command {
	var (
		scopes  []string
		expires time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME --scope SCOPE[,SCOPE]",
		Short: "Create a token and print its secret, the only time it is shown",
		Example: `  tune token create gpu-box-1 --scope runner
  tune token create grafana --scope read --expires 720h
  TUNE_TOKEN=$(tune token create ci --scope write) ./train.sh`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := openapi.TokenCreate{Name: args[0]}
			for _, s := range scopes {
				body.Scopes = append(body.Scopes, openapi.TokenScope(strings.TrimSpace(s)))
			}
			if expires < 0 {
				return fmt.Errorf("--expires must be positive, got %v", expires)
			}
			if expires > 0 {
				at := time.Now().Add(expires).UTC()
				body.ExpiresAt = &at
			}
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.CreateTokenWithResponse(cmd.Context(), body)
			created, raw, err := decode[openapi.TokenCreated](c, call{Name: fmt.Sprintf("create token %q", args[0])}, rsp, err)
			if err != nil {
				return err
			}
			// The secret alone on stdout, so that scripts can capture it;
			// the rest on stderr.
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) {
				fmt.Fprintf(cmd.ErrOrStderr(), "token %s (id %d, scopes %s) created; its secret is shown only now:\n",
					created.Token.Name, created.Token.Id, joinTokenScopes(created.Token.Scopes))
				fmt.Fprintln(w, created.Secret)
			})
		},
	}
	cmd.Flags().StringSliceVar(&scopes, "scope", nil, "scopes: admin, write, read, runner (comma-separated or repeated)")
	cmd.Flags().DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h; never expires when 0")
	_ = cmd.MarkFlagRequired("scope")
	return cmd
}

func newTokenListCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tokens, revoked ones included (never their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			rsp, err := c.API.ListTokensWithResponse(cmd.Context())
			list, raw, err := decode[openapi.TokenList](c, call{Name: "list tokens"}, rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) {
				row(w, "ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "STATE")
				now := time.Now()
				for _, t := range list.Items {
					state := "active"
					switch {
					case t.RevokedAt != nil:
						state = "revoked"
					case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
						state = "expired"
					}
					row(w, strconv.FormatInt(t.Id, 10), t.Name, joinTokenScopes(t.Scopes), formatTime(t.CreatedAt),
						formatOptTime(t.ExpiresAt), formatOptTime(t.LastUsedAt), state)
				}
			})
		},
	}
}

func newTokenRevokeCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.connect(cmd)
			if err != nil {
				return err
			}
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				// A name: the live token of that name.
				rsp, err := c.API.ListTokensWithResponse(cmd.Context())
				list, _, err := decode[openapi.TokenList](c, call{Name: "list tokens"}, rsp, err)
				if err != nil {
					return err
				}
				id = -1
				for _, t := range list.Items {
					if t.Name == args[0] && t.RevokedAt == nil {
						id = t.Id
					}
				}
				if id < 0 {
					return fmt.Errorf("no live token named %q; 'tune token list' shows them", args[0])
				}
			}
			rsp, err := c.API.RevokeTokenWithResponse(cmd.Context(), id)
			tok, raw, err := decode[openapi.Token](c, call{Name: fmt.Sprintf("revoke token %s", args[0]), Subject: fmt.Sprintf("token %s", args[0])}, rsp, err)
			if err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), raw, func(w io.Writer) {
				fmt.Fprintf(w, "token %s (id %d) revoked\n", tok.Name, tok.Id)
			})
		},
	}
}

func joinTokenScopes(s []openapi.TokenScope) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = string(v)
	}
	return strings.Join(parts, ",")
}
