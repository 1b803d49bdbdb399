package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/tuner"
)

// defaultServeAddr is where `tune serve` listens unless told otherwise.
const defaultServeAddr = "127.0.0.1:8080"

// serviceOptions are the settings of a running service, shared by serve
// and demo.
type serviceOptions struct {
	addr         string
	databaseURL  string
	dataDir      string
	migrate      bool
	reapInterval time.Duration
	rateLimit    int
	auth         serveAuthOptions
	// anyPort lets the service take another free port when addr is taken
	// (the demo's default address only).
	anyPort bool
}

type serveOptions struct {
	serviceOptions
	logFormat string
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
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	bind(f, "addr", &o.addr)
	bind(f, "database-url", &o.databaseURL)
	bind(f, "data-dir", &o.dataDir)
	bind(f, "log-format", &o.logFormat)
	bind(f, "migrate", &o.migrate)
	bind(f, "reap-interval", &o.reapInterval)
	bind(f, "rate-limit", &o.rateLimit)
	addServeAuthFlags(f, &o.auth)
	return cmd
}

func runServe(ctx context.Context, o serveOptions, logTo io.Writer) error {
	log, err := newLogger(logTo, o.logFormat, slog.LevelInfo)
	if err != nil {
		return err
	}
	svc, err := startService(ctx, o.serviceOptions, log)
	if err != nil {
		return err
	}
	defer svc.close()
	log.Info("tune is serving", "url", svc.url, "api", svc.url+apiPrefix)
	select {
	case err := <-svc.errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	return svc.shutdown()
}

// runningService is the service as serve and demo run it: a store, the
// API over it, and the HTTP server that serves it.
type runningService struct {
	store openedStore
	// where says where the studies are kept, password cut out.
	where string
	api   *service.Server
	hs    *http.Server
	// url is the root URL the service answers at.
	url string
	// errc receives the HTTP server's error should it stop on its own.
	errc chan error
}

// startService opens the store (migrating it when o.migrate), builds the
// service and starts serving it on o.addr. log receives the service's log
// and the HTTP server's errors.
func startService(ctx context.Context, o serviceOptions, log *slog.Logger) (*runningService, error) {
	store, where, err := openStore(ctx, o.databaseURL, o.dataDir, o.migrate)
	if err != nil {
		return nil, err
	}
	if o.databaseURL == "" {
		log.Info("keeping studies in the embedded database", "file", where)
	} else {
		log.Info("keeping studies in Postgres", "database", where)
	}
	cfg, err := serveAuth(ctx, o.auth, o.addr, store, o.dataDir, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	cfg.Store, cfg.Tuner, cfg.Logger, cfg.ReapInterval = store, tuner.New(store), log, o.reapInterval
	// Negative turns the limit off; 0 (a command without the flag, such
	// as the demo) is the service's default.
	cfg.RateLimit = service.RateLimit{Rate: float64(o.rateLimit)}
	api, err := service.New(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil && o.anyPort {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		api.Close()
		store.Close()
		return nil, fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	s := &runningService{
		store: store,
		where: where,
		api:   api,
		hs:    newHTTPServer(api.Handler(), log),
		url:   "http://" + ln.Addr().String(),
		errc:  make(chan error, 1),
	}
	go func() { s.errc <- s.hs.Serve(ln) }()
	return s, nil
}

// newHTTPServer is the HTTP server every tune service runs behind: bounded
// reads and idle connections, its errors in log.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A body sent byte by byte must not hold a connection for ever;
		// bodies are small (1 MiB at most).
		ReadTimeout: time.Minute,
		// Lease requests long-poll for up to a minute.
		WriteTimeout: 90 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// shutdown stops taking requests and waits for those in flight.
func (s *runningService) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// close stops the HTTP server if still up, the service and the store.
func (s *runningService) close() {
	_ = s.hs.Close() // after shutdown, or on the way out: nothing to report
	s.api.Close()
	s.store.Close()
}

// newLogger is tune's log on w in format (text or json) from level on.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}
