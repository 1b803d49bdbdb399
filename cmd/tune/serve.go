package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/tuner"
)

// defaultServeAddr is where `tune serve` listens unless told otherwise.
const defaultServeAddr = "127.0.0.1:8080"

type serveOptions struct {
	addr         string
	databaseURL  string
	dataDir      string
	logFormat    string
	migrate      bool
	reapInterval time.Duration
	auth         serveAuthOptions
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tune service (REST API, lease reaper, metrics)",
		Long: `Run the tune service. It applies pending schema migrations at start (safe
with several replicas starting at once), then serves the REST API under
/api/v1, the spec at /api/v1/openapi.yaml, /healthz, /readyz and /metrics.

With --database-url it keeps everything in Postgres. Without one it keeps
everything in an embedded database file, tune.db in --data-dir (created on
first use): enough for one service on one machine. Move to Postgres to run
several replicas of the service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", envOr("TUNE_ADDR", defaultServeAddr), "address to listen on (env TUNE_ADDR)")
	f.StringVar(&o.databaseURL, "database-url", os.Getenv("TUNE_DATABASE_URL"), "Postgres URL, e.g. postgres://user@host:5432/tune (env TUNE_DATABASE_URL); without one, the embedded store in --data-dir")
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "directory of the embedded store (used when no database URL is given) and of the admin token file (env TUNE_DATA_DIR)")
	f.StringVar(&o.logFormat, "log-format", envOr("TUNE_LOG_FORMAT", "text"), "log format: text or json (env TUNE_LOG_FORMAT)")
	f.BoolVar(&o.migrate, "migrate", true, "apply pending schema migrations at start")
	f.DurationVar(&o.reapInterval, "reap-interval", time.Second, "how often expired leases are reclaimed")
	addServeAuthFlags(f, &o.auth)
	return cmd
}

func runServe(ctx context.Context, o serveOptions) error {
	log, err := newLogger(o.logFormat)
	if err != nil {
		return err
	}
	store, where, err := openStore(ctx, o.databaseURL, o.dataDir, o.migrate)
	if err != nil {
		return err
	}
	defer store.Close()
	if o.databaseURL == "" {
		log.Info("keeping studies in the embedded database", "file", where)
	} else {
		log.Info("keeping studies in Postgres", "database", where)
	}
	cfg, err := serveAuth(ctx, o.auth, o.addr, store, o.dataDir, log)
	if err != nil {
		return err
	}
	cfg.Store, cfg.Tuner, cfg.Logger, cfg.ReapInterval = store, tuner.New(store), log, o.reapInterval
	srv, err := service.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Lease requests long-poll for up to a minute.
		WriteTimeout: 90 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("tune is serving", "url", "http://"+ln.Addr().String(), "api", "http://"+ln.Addr().String()+"/api/v1")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func newLogger(format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
