// Package service is tune's HTTP server: the handlers of the OpenAPI
// operations, request validation against the spec, problem+json errors,
// the lease reaper, health checks and Prometheus metrics.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
	"github.com/tune-dev/tune/web"
)

// Tuner proposes params and decides pruning; tuner.Tuner implements it.
type Tuner interface {
	Suggest(ctx context.Context, s *trials.Study) (tuner.Proposal, error)
	ShouldPrune(ctx context.Context, s *trials.Study, t *trials.Trial) (bool, map[string]string, error)
	Observe(t *trials.Trial)
	Forget(studyID int64)
}

// Config wires a Server.
type Config struct {
	Store trials.Store
	Tuner Tuner
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ReapInterval is how often expired leases are reclaimed (default 1 s);
	// negative disables the reaper.
	ReapInterval time.Duration
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxLeaseWait caps a runner's long poll (default 60 s).
	MaxLeaseWait time.Duration
	// LeasePoll is how often a waiting lease request looks for work that
	// other replicas made available (default 1 s); work made available by
	// this replica wakes it at once.
	LeasePoll time.Duration

	// Tokens authenticates every /api/v1 call (the spec aside) with bearer
	// tokens and their scopes; see package auth. Required unless Insecure.
	Tokens TokenStore
	// Insecure serves the API to anyone, without tokens. Tests and a
	// loopback-only `tune serve --insecure` use it.
	Insecure bool
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// Now is the clock tokens expire by; time.Now when nil.
	Now func() time.Time
}

// Server is the HTTP service. Close it to stop its reaper.
type Server struct {
	cfg     Config
	log     *slog.Logger
	echo    *echo.Echo
	metrics *metrics
	studies studyCache
	wake    *signal

	stop chan struct{}
	done sync.WaitGroup
}

const apiPrefix = "/api/v1"

// New builds the server and starts its reaper.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Tuner == nil {
		return nil, errors.New("service: Store and Tuner are required")
	}
	if cfg.Tokens == nil && !cfg.Insecure {
		return nil, errors.New("service: Tokens is required unless Insecure")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Insecure {
		cfg.Tokens = nil
		cfg.Logger.Warn("serving the API without authentication: anyone who reaches it may create studies that runners execute")
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxLeaseWait <= 0 {
		cfg.MaxLeaseWait = 60 * time.Second
	}
	if cfg.LeasePoll <= 0 {
		cfg.LeasePoll = time.Second
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		wake:    newSignal(),
		stop:    make(chan struct{}),
		studies: studyCache{store: cfg.Store},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = newMetrics(reg, cfg.Store)

	spec, err := openapi.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("service: loading the embedded spec: %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "path", c.Path(), "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace:                 "tune",
		Subsystem:                 "http",
		Registerer:                reg,
		DoNotUseRequestPathFor404: true,
	}))
	e.Use(middleware.BodyLimit(fmt.Sprint(cfg.MaxBodyBytes)))

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: reg}), metricsGuard(cfg.MetricsToken))
	e.GET(apiPrefix+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.SpecYAML)
	})

	// The dashboard: its pages (each serves the app, which reads the URL)
	// and its assets. Only these paths, so any other is still a 404.
	dashboard := web.Handler()
	dash := func(c echo.Context) error {
		if !dashboard.Serves(c.Request()) {
			return echo.ErrNotFound
		}
		dashboard.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	for _, r := range web.Routes {
		e.GET(echoPath(r), dash)
	}
	e.GET(web.AssetsPrefix+"*", dash)

	api := e.Group(apiPrefix)
	if cfg.Tokens != nil {
		api.Use(newAuthenticator(cfg.Tokens, cfg.Now, spec).middleware)
	}
	api.Use(oapimiddleware.OapiRequestValidatorWithOptions(spec, &oapimiddleware.Options{
		SilenceServersWarning: true,
		Options: openapi3filter.Options{
			// The auth middleware has checked the bearer token already.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         false,
		},
		Skipper: func(c echo.Context) bool {
			return !strings.HasPrefix(c.Request().URL.Path, apiPrefix+"/") ||
				c.Request().URL.Path == apiPrefix+"/openapi.yaml"
		},
	}))
	openapi.RegisterHandlersWithBaseURL(api, openapi.NewStrictHandler(&handlers{s}, nil), "")
	s.echo = e

	if cfg.ReapInterval > 0 {
		s.done.Add(1)
		go s.reapLoop()
	}
	return s, nil
}

// echoPath turns a ServeMux pattern's {name} wildcards into echo's :name.
func echoPath(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			parts[i] = ":" + strings.Trim(p, "{}")
		}
	}
	return strings.Join(parts, "/")
}

// Handler serves the API, the spec, health checks, metrics and the
// dashboard.
func (s *Server) Handler() http.Handler { return s.echo }

// Close stops the reaper. It does not close the store.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.done.Wait()
}

func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the database is not reachable")
	}
	return c.String(http.StatusOK, "ok\n")
}

// reapLoop requeues or fails trials whose lease expired. Every replica runs
// one; the store makes that safe.
func (s *Server) reapLoop() {
	defer s.done.Done()
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		requeued, failed, err := s.cfg.Store.ReapExpired(ctx)
		cancel()
		if err != nil {
			s.log.Error("reaping expired leases", "err", err)
			continue
		}
		if requeued+failed > 0 {
			s.log.Info("reaped expired leases", "requeued", requeued, "failed", failed)
			s.metrics.reaped.WithLabelValues("requeued").Add(float64(requeued))
			s.metrics.reaped.WithLabelValues("failed").Add(float64(failed))
			// Requeued trials are work for waiting runners; failed ones free
			// parallel slots.
			s.wake.broadcast()
		}
	}
}

// ensure the generated contract and the handlers stay in step.
var _ openapi.StrictServerInterface = (*handlers)(nil)

// handlers implements the generated strict server interface.
type handlers struct{ s *Server }
