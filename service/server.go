// Package service is tune's HTTP server: the handlers of the OpenAPI
// operations, which translate between the OpenAPI types and the broker's
// domain calls, request validation against the spec, problem+json errors,
// health checks, Prometheus metrics and the dashboard's files. The trial
// workflow itself (ask, lease, report, tell, the reaper) is the broker's.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tune-dev/tune/broker"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/web"
)

// Tuner proposes params and decides pruning; tuner.Tuner implements it.
type Tuner = broker.Tuner

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
	// Limits bound every request's JSON body, path and query before it
	// is parsed; zero fields take their defaults.
	Limits InputLimits
	// RateLimit bounds each caller's request rate on the API.
	RateLimit RateLimit
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

// Server is the HTTP service. Close it to stop its broker's reaper.
type Server struct {
	cfg    Config
	log    *slog.Logger
	echo   *echo.Echo
	broker *broker.Broker
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
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	spec, err := openapi.GetSwagger()
	if err != nil {
		return nil, fmt.Errorf("service: loading the embedded spec: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

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
	e.Use(checkLoopbackHost)
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
	if rl := cfg.RateLimit.withDefaults(); rl.Rate > 0 {
		api.Use(rateLimiter(rl))
	}
	// Before authentication (which reads a runner's lease token from the
	// body) and the validator, which is where hostile nesting would cost.
	api.Use(checkInput(cfg.Limits))
	if cfg.Tokens != nil {
		api.Use(newAuthenticator(cfg.Tokens, cfg.Store, cfg.Now, spec).middleware)
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
	s.broker, err = broker.New(broker.Config{
		Store:        cfg.Store,
		Tuner:        cfg.Tuner,
		Logger:       cfg.Logger,
		Metrics:      newMetrics(reg, cfg.Store),
		ReapInterval: cfg.ReapInterval,
		MaxLeaseWait: cfg.MaxLeaseWait,
		LeasePoll:    cfg.LeasePoll,
	})
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	openapi.RegisterHandlersWithBaseURL(api, openapi.NewStrictHandler(&handlers{s: s, b: s.broker, store: cfg.Store}, nil), "")
	s.echo = e
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

// Close stops the broker's reaper. It does not close the store.
func (s *Server) Close() { s.broker.Close() }

func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the database is not reachable")
	}
	// A reachable database whose schema was dropped or left behind by a
	// migration would fail every request: not ready either.
	if v, ok := s.cfg.Store.(schemaVersioned); ok {
		current, latest, err := v.SchemaVersion(ctx)
		if err != nil {
			s.log.Warn("readiness check failed: reading the schema version", "err", err)
			return echo.NewHTTPError(http.StatusServiceUnavailable, "the database's schema version cannot be read")
		}
		if current != latest {
			s.log.Warn("readiness check failed: schema version", "current", current, "want", latest)
			return echo.NewHTTPError(http.StatusServiceUnavailable,
				fmt.Sprintf("the database schema is at version %d; this service needs %d", current, latest))
		}
	}
	return c.String(http.StatusOK, "ok\n")
}

// schemaVersioned is what readiness needs of a store to check its schema;
// both stores have it.
type schemaVersioned interface {
	SchemaVersion(ctx context.Context) (current, latest int64, err error)
}

// ensure the generated contract and the handlers stay in step.
var _ openapi.StrictServerInterface = (*handlers)(nil)

// handlers implements the generated strict server interface: workflow calls
// go to the broker, plain reads straight to the store.
type handlers struct {
	s     *Server
	b     *broker.Broker
	store trials.Store
}
