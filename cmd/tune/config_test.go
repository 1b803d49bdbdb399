package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/sql/postgres/pgtest"
)

// secretURL is a database URL whose password must never be shown.
const secretURL = "postgres://tune:s3cret@db.invalid/tune"

// TestHelpHidesSecrets: --help shows no setting's value from the
// environment, and no password, whatever TUNE_* says.
func TestHelpHidesSecrets(t *testing.T) {
	t.Setenv("TUNE_DATABASE_URL", secretURL)
	t.Setenv("TUNE_SERVER", "http://runner:hunter2@tune:8080")
	for _, args := range [][]string{
		{"serve", "--help"}, {"migrate", "--help"}, {"demo", "--help"}, {"runner", "--help"}, {"study", "list", "--help"},
	} {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("tune %s: %v", strings.Join(args, " "), err)
		}
		help := out.String()
		if !strings.Contains(help, "--database-url") && !strings.Contains(help, "--server") {
			t.Fatalf("tune %s printed no help: %q", strings.Join(args, " "), help)
		}
		for _, secret := range []string{"s3cret", "hunter2"} {
			if strings.Contains(help, secret) {
				t.Errorf("tune %s shows %q:\n%s", strings.Join(args, " "), secret, help)
			}
		}
	}
}

// TestSecretSettingDefaultIsHidden: a secret setting's default is not
// shown even when it is not a URL (a token, say).
func TestSecretSettingDefaultIsHidden(t *testing.T) {
	s := setting{name: "token", secret: true}
	for _, v := range []string{"tok_abc123", "postgres://tune@db/tune"} {
		if got := s.display(v); strings.Contains(got, "abc123") || got == v {
			t.Errorf("display(%q) = %q", v, got)
		}
	}
	if got := settings["server"].display("http://u:hunter2@tune:8080"); got != "http://u@tune:8080" {
		t.Errorf("server display = %q", got)
	}
	if got := (setting{secret: true}).envError("s3cret", nil).Error(); strings.Contains(got, "s3cret") {
		t.Errorf("envError = %q", got)
	}
}

// TestConnectErrorHidesPassword: a database that cannot be reached, or a
// URL pgx cannot parse, gives an error without the password.
func TestConnectErrorHidesPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, dsn := range []string{
		"postgres://tune:s3cret@" + closed + "/tune?connect_timeout=5",
		"postgres://tune:s3cret@db:notaport/tune",
		"postgres://tune:s3cret@" + closed + "/tune?sslmode=bogus",
		"host=127.0.0.1 port=1 user=tune password=s3cret dbname=tune connect_timeout=5",
		"host=127.0.0.1 port=1 user=tune password='s3cret' sslmode=bogus",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		st, _, err := openStore(ctx, dsn, "", true)
		cancel()
		if err == nil {
			st.Close()
			t.Fatalf("openStore(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("openStore error shows the password: %v", err)
		}
	}
}

// TestServeLogHidesPassword: the startup log names the database without
// its password (Postgres here trusts any password).
func TestServeLogHidesPassword(t *testing.T) {
	u, err := url.Parse(pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var log syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand()
		cmd.SetErr(&log)
		cmd.SetArgs([]string{"serve", "--addr", addr, "--database-url", u.String()})
		done <- cmd.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "tune is serving") && time.Now().Before(deadline) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	out := log.String()
	if !strings.Contains(out, "keeping studies in Postgres") || !strings.Contains(out, "tune@") && !strings.Contains(out, u.User.Username()+"@") {
		t.Errorf("startup log does not name the database:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("startup log shows the password:\n%s", out)
	}
}

// TestSettingPrecedence: the flag wins over the variable, the variable
// over the default, and each is parsed as its flag is.
func TestSettingPrecedence(t *testing.T) {
	type got struct {
		parallel        int
		workloads       []string
		addr            string
		addrOnCmdLine   bool
		parallelCmdLine bool
	}
	resolve := func(args ...string) (got, error) {
		var g got
		cmd := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true}
		bind(cmd.Flags(), "parallel", &g.parallel)
		bind(cmd.Flags(), "workloads", &g.workloads)
		bind(cmd.Flags(), "addr", &g.addr)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			g.addrOnCmdLine = onCommandLine(cmd, "addr")
			g.parallelCmdLine = onCommandLine(cmd, "parallel")
			return nil
		}
		cmd.SetArgs(args)
		err := cmd.Execute()
		return g, err
	}
	g, err := resolve()
	// exec is offered only with --allow-exec (issue 10), so not by default.
	if err != nil || g.parallel != 1 || strings.Join(g.workloads, ",") != "mnist-mlp" || g.addr != defaultServeAddr {
		t.Errorf("defaults: %+v, %v", g, err)
	}
	t.Setenv("TUNE_RUNNER_PARALLEL", "3")
	t.Setenv("TUNE_RUNNER_WORKLOADS", "exec")
	t.Setenv("TUNE_ADDR", "127.0.0.1:9999")
	g, err = resolve("--parallel", "2")
	if err != nil || g.parallel != 2 || strings.Join(g.workloads, ",") != "exec" || g.addr != "127.0.0.1:9999" {
		t.Errorf("flag and env: %+v, %v", g, err)
	}
	if g.addrOnCmdLine || !g.parallelCmdLine {
		t.Errorf("sources: addr on the command line %v, parallel %v", g.addrOnCmdLine, g.parallelCmdLine)
	}
	t.Setenv("TUNE_RUNNER_PARALLEL", "many")
	if _, err := resolve(); err == nil || err.Error() != `TUNE_RUNNER_PARALLEL="many" is not a number` {
		t.Errorf("bad variable: %v", err)
	}
	if g, err := resolve("--parallel", "4"); err != nil || g.parallel != 4 {
		t.Errorf("a bad variable under a given flag: %+v, %v", g, err)
	}
}

// TestServeAndDemoShareTheHTTPServer: the server both run bounds reads
// and idle connections and logs its errors.
func TestServeAndDemoShareTheHTTPServer(t *testing.T) {
	var log bytes.Buffer
	svc, err := startService(context.Background(), serviceOptions{addr: "127.0.0.1:0", dataDir: t.TempDir(), migrate: true},
		slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	hs := svc.hs
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 || hs.ErrorLog == nil {
		t.Errorf("server without timeouts or error log: %+v", hs)
	}
	hs.ErrorLog.Print("probe")
	if !strings.Contains(log.String(), "probe") {
		t.Errorf("the HTTP server's errors do not reach the log: %q", log.String())
	}
	rsp, err := http.Get(svc.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %s", rsp.Status)
	}
	if err := svc.shutdown(); err != nil {
		t.Error(err)
	}
}
