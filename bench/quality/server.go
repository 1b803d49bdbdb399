package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/tune-dev/tune/bench/internal/harness"
	"github.com/tune-dev/tune/sql/sqlite"
)

// inProcess is tune's real service over the embedded store in a temporary
// directory: the suggestions measured are the ones a user of the API gets.
type inProcess struct {
	url   string
	dir   string
	store *sqlite.Store
	srv   *harness.Server
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
	if p.srv, err = harness.Serve(p.store); err != nil {
		return nil, err
	}
	p.url = p.srv.URL
	return p, nil
}

// close stops the server and removes its database; it copes with a partly
// started server.
func (p *inProcess) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.srv != nil {
		p.srv.Close(ctx)
	}
	if p.store != nil {
		p.store.Close()
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}
