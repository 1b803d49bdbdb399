// Package harness is what the benchmark programs share: tune's real
// service in their own process, progress lines on stderr, and the
// machine's description for their results.
package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// Store is a store the service keeps trials in and the tuner reads them
// from; both of tune's stores are one.
type Store interface {
	trials.Store
	tuner.HistorySource
}

// Server is tune's service wired as `tune serve` wires it (cmd/tune), on a
// loopback listener at a free port. A real listener rather than httptest
// keeps the whole HTTP path (TCP, keep-alive, the client's connection
// pool) in what is measured, and the suggestions are the ones a user of
// the API gets.
type Server struct {
	URL string
	srv *service.Server
	hs  *http.Server
}

// Serve starts the service over store. The benchmarks' clients carry no
// token and share one address: they measure the trial path, not
// authentication or the per-caller rate limit, so neither is on.
func Serve(store Store) (*Server, error) {
	srv, err := service.New(service.Config{
		Store: store,
		Tuner: tuner.New(store),
		// Warnings and errors from the service are exactly what a
		// benchmark run should surface; the rest would drown its progress.
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Insecure:  true,
		RateLimit: service.RateLimit{Rate: -1},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), srv: srv,
		hs: &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			Logf("server stopped: %v", err)
		}
	}()
	return s, nil
}

// Close stops the listener, waiting for requests in progress until ctx
// ends, then the service. The store is the caller's.
func (s *Server) Close(ctx context.Context) {
	_ = s.hs.Shutdown(ctx)
	s.srv.Close()
}

// Logf prints a progress line to stderr, so that stdout holds only the
// program's table.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// CPUModel returns the first "model name" of /proc/cpuinfo, or "".
func CPUModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
