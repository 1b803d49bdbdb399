package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/sqlite"
	"github.com/tune-dev/tune/tuner"
)

// inProcess is tune's real service, wired as `tune serve` wires it, on a
// loopback listener over the embedded store in a temporary directory: the
// suggestions measured are the ones a user of the API gets.
type inProcess struct {
	url   string
	dir   string
	store *sqlite.Store
	srv   *service.Server
	hs    *http.Server
}

func startServer(ctx context.Context) (_ *inProcess, err error) {
	p := &inProcess{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.dir, err = os.MkdirTemp("", "tune-quality-"); err != nil {
		return nil, err
	}
	if p.store, err = sqlite.Open(ctx, filepath.Join(p.dir, "tune.db")); err != nil {
		return nil, err
	}
	if err := p.store.Migrate(ctx); err != nil {
		return nil, err
	}
	p.srv, err = service.New(service.Config{
		Store:  p.store,
		Tuner:  tuner.New(p.store),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Loopback only, and the harness is one caller asking as fast as
		// it can: no tokens, no rate limit.
		Insecure:  true,
		RateLimit: service.RateLimit{Rate: -1},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.hs = &http.Server{Handler: p.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("server stopped: %v", err)
		}
	}()
	p.url = "http://" + ln.Addr().String()
	return p, nil
}

// close stops the server and removes its database; it copes with a partly
// started server.
func (p *inProcess) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.hs != nil {
		_ = p.hs.Shutdown(ctx)
	}
	if p.srv != nil {
		p.srv.Close()
	}
	if p.store != nil {
		p.store.Close()
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}
