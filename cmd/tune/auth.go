package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/service"
)

// tokenFileName is the file in the data dir that holds the admin token the
// first `tune serve` created, for the CLI, runners and the demo on the same
// machine.
const tokenFileName = "token"

// tokenEnv is the environment variable that carries a token when --token
// is not given.
const tokenEnv = "TUNE_TOKEN"

// tokenFileEnv names a file holding the token (a container secret, a
// shared volume), for any server.
const tokenFileEnv = "TUNE_TOKEN_FILE"

// readNamedTokenFile reads a token file the user named: it must exist and
// hold a token.
func readNamedTokenFile(path string) (string, error) {
	token, err := readTokenFile(path)
	if err == nil && token == "" {
		err = fmt.Errorf("%s=%s: no such file, or it is empty", tokenFileEnv, path)
	}
	return token, err
}

// addTokenFlag adds the persistent --token flag. Its default is empty
// whatever the environment says, so that help never prints a secret.
func addTokenFlag(root *cobra.Command) {
	root.PersistentFlags().String("token", "",
		"API token (tune_...), else $"+tokenEnv+", else the file $"+tokenFileEnv+" names, else, for a server on this machine, the token file in the data dir")
}

// tokenFile is where the local admin token is kept.
func tokenFile(dataDir string) string {
	if dataDir == "" {
		dataDir = defaultDataDir()
	}
	return filepath.Join(dataDir, tokenFileName)
}

// clientToken picks the token to send to server: --token, else $TUNE_TOKEN,
// else, only when the server is on this machine, the token file of the
// default data dir. "" means none was found; the server then answers 401
// with advice.
func clientToken(cmd *cobra.Command, server string) (string, error) {
	if f := cmd.Flag("token"); f != nil && f.Changed {
		return strings.TrimSpace(f.Value.String()), nil
	}
	if v := strings.TrimSpace(os.Getenv(tokenEnv)); v != "" {
		return v, nil
	}
	if path := os.Getenv(tokenFileEnv); path != "" {
		return readNamedTokenFile(path)
	}
	if !loopbackURL(server) {
		return "", nil
	}
	return readTokenFile(tokenFile(""))
}

// localToken is the token for a server this process serves from dataDir:
// --token, else $TUNE_TOKEN, else dataDir's token file.
func localToken(cmd *cobra.Command, dataDir string) (string, error) {
	if f := cmd.Flag("token"); f != nil && f.Changed {
		return strings.TrimSpace(f.Value.String()), nil
	}
	if v := strings.TrimSpace(os.Getenv(tokenEnv)); v != "" {
		return v, nil
	}
	if path := os.Getenv(tokenFileEnv); path != "" {
		return readNamedTokenFile(path)
	}
	path := tokenFile(dataDir)
	token, err := readTokenFile(path)
	if err == nil && token == "" {
		err = fmt.Errorf("the store has tokens but %s is missing: pass an admin token with --token or %s", path, tokenEnv)
	}
	return token, err
}

// readTokenFile reads a token file; a missing file is no token.
func readTokenFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// loopbackURL reports whether the server's URL names this machine.
func loopbackURL(server string) bool {
	u, err := url.Parse(server)
	return err == nil && loopbackHost(u.Hostname())
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveAuthOptions are the flags of `tune serve` about who may call it.
type serveAuthOptions struct {
	insecure     bool
	metricsToken string
}

func addServeAuthFlags(f *pflag.FlagSet, o *serveAuthOptions) {
	bind(f, "insecure", &o.insecure)
	bind(f, "metrics-token", &o.metricsToken)
}

// firstTokenStore is what serving with tokens needs of a store.
type firstTokenStore interface {
	service.TokenStore
	CreateFirstToken(ctx context.Context, t auth.Token) (*auth.Token, error)
}

// serveAuth configures authentication for a server listening on addr over
// store: with --insecure nothing (refused off loopback); otherwise tokens,
// creating the first admin token when the store has none and writing it to
// dataDir/token (0600).
func serveAuth(ctx context.Context, o serveAuthOptions, addr string, store any, dataDir string, log *slog.Logger) (service.Config, error) {
	cfg := service.Config{MetricsToken: o.metricsToken}
	if o.insecure {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !loopbackHost(host) {
			return cfg, fmt.Errorf("--insecure serves without authentication, so it is refused on %s: listen on a loopback address (--addr 127.0.0.1:8080), or drop --insecure and use tokens", addr)
		}
		cfg.Insecure = true
		return cfg, nil
	}
	ts, ok := store.(firstTokenStore)
	if !ok {
		return cfg, errors.New("this store keeps no tokens")
	}
	cfg.Tokens = ts
	path, created, err := ensureFirstToken(ctx, ts, dataDir)
	if err != nil {
		return cfg, err
	}
	if created {
		log.Info("created the first admin token; the CLI, runners and the demo on this machine read it from its file", "file", path)
	}
	return cfg, nil
}

// ensureFirstToken creates an admin token when the store has none and
// writes its secret to the token file. The file is written first (to a
// temporary name) so that a token is never created whose secret is lost.
func ensureFirstToken(ctx context.Context, ts firstTokenStore, dataDir string) (path string, created bool, err error) {
	path = tokenFile(dataDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return path, false, fmt.Errorf("creating the data directory: %w", err)
	}
	secret, hash, err := auth.NewSecret()
	if err != nil {
		return path, false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return path, false, fmt.Errorf("writing the token file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	// CreateTemp makes the file 0600 already; say so for readers.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return path, false, fmt.Errorf("writing the token file: %w", err)
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return path, false, fmt.Errorf("writing the token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return path, false, fmt.Errorf("writing the token file: %w", err)
	}
	tok, err := ts.CreateFirstToken(ctx, auth.Token{Name: "admin", Scopes: []auth.Scope{auth.Admin}, Hash: hash})
	if err != nil {
		return path, false, fmt.Errorf("creating the first admin token: %w", err)
	}
	if tok == nil {
		return path, false, nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return path, false, fmt.Errorf("writing the token file: %w", err)
	}
	return path, true, nil
}
