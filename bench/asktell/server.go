package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/bench/internal/harness"
	"github.com/tune-dev/tune/sql/postgres"
)

// inProcess is tune's real service over a database of its own.
type inProcess struct {
	url      string
	adminURL string
	dbName   string
	store    *postgres.Store
	srv      *harness.Server
}

// startServer creates database tune_bench_<pid> on the server at adminURL,
// migrates it, and serves tune over it (harness.Serve).
func startServer(ctx context.Context, adminURL string) (_ *inProcess, err error) {
	p := &inProcess{adminURL: adminURL, dbName: fmt.Sprintf("tune_bench_%d", os.Getpid())}
	dbURL, err := withDatabase(adminURL, p.dbName)
	if err != nil {
		return nil, err
	}
	if err := p.adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{p.dbName}.Sanitize()); err != nil {
		return nil, fmt.Errorf("creating database %s (is Postgres running at %s?): %w", p.dbName, redact(adminURL), err)
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	harness.Logf("created database %s", p.dbName)
	if p.store, err = postgres.Open(ctx, dbURL); err != nil {
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

// close stops the server and drops its database. It runs on every exit
// path, so it must cope with a partly started server.
func (p *inProcess) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.srv != nil {
		p.srv.Close(ctx)
	}
	if p.store != nil {
		p.store.Close()
	}
	// FORCE (Postgres 13+) ends any connection still open on it, e.g. one
	// left by an interrupted request.
	if err := p.adminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{p.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
		harness.Logf("could not drop database %s: %v (drop it by hand)", p.dbName, err)
		return
	}
	harness.Logf("dropped database %s", p.dbName)
}

// adminExec runs one statement on a short-lived connection to the admin
// database: CREATE and DROP DATABASE cannot run inside the database itself.
func (p *inProcess) adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns rawURL pointing at database name instead, keeping
// the query (sslmode, pool settings such as pool_max_conns).
func withDatabase(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--database-url must be a postgres:// URL, got %q", redact(rawURL))
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a password in a URL for messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
