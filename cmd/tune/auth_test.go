package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/auth"
)

// TestMain points $HOME at a scratch directory, so that no test reads or
// writes the token file of the person running the tests.
func TestMain(m *testing.M) {
	// The MNIST files live in the module cache, found through $HOME unless
	// named: name it before $HOME moves.
	if os.Getenv("GOMODCACHE") == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			os.Setenv("GOMODCACHE", strings.TrimSpace(string(out)))
		}
	}
	home, err := os.MkdirTemp("", "tune-home-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("TUNE_DATA_DIR")
	os.Unsetenv(tokenEnv)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// The admin tokens of the servers tests started, by database (its URL, or
// the embedded store's data dir) and by server URL, so that the cli helper
// authenticates as a user on the server's machine would.
var testTokens = struct {
	sync.Mutex
	byStore, byServer map[string]string
}{byStore: map[string]string{}, byServer: map[string]string{}}

// flagValue finds --name's value in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// rememberToken records the admin token of the server at url, started
// with args: read from its data dir's token file, or, when an earlier
// server on the same database wrote it elsewhere, remembered from then.
func rememberToken(t *testing.T, url string, args []string) {
	t.Helper()
	dataDir, _ := flagValue(args, "--data-dir")
	key := dataDir
	if db, _ := flagValue(args, "--database-url"); db != "" {
		key = db
	}
	token, err := readTokenFile(tokenFile(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	testTokens.Lock()
	defer testTokens.Unlock()
	if token == "" {
		token = testTokens.byStore[key]
	}
	testTokens.byStore[key] = token
	testTokens.byServer[url] = token
}

// withTestToken adds --token for a server a test started, unless the
// arguments choose one.
func withTestToken(server string, args []string) []string {
	if _, ok := flagValue(args, "--token"); ok {
		return args
	}
	testTokens.Lock()
	token := testTokens.byServer[server]
	testTokens.Unlock()
	if token == "" {
		return args
	}
	return append([]string{"--token", token}, args...)
}

// TestServeWritesTheTokenFile: the first serve on a store writes an admin
// token (0600) to the data dir; a client on this machine uses it without
// being told, and anonymous calls are refused.
func TestServeWritesTheTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("TUNE_DATA_DIR", dir)
	url, stop := startServe(t, "--database-url=")
	path := filepath.Join(dir, "token")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %v, want 0600", perm)
	}
	first, err := readTokenFile(path)
	if err != nil || !auth.LooksLikeSecret(first) {
		t.Fatalf("token file holds %q (%v), want a tune_ secret", first, err)
	}
	// No --token, no TUNE_TOKEN: found in the data dir.
	var out strings.Builder
	cmd := newRootCommand()
	cmd.SetArgs([]string{"--server", url, "token", "list"})
	cmd.SetOut(&out)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("tune token list with the token file: %v", err)
	}
	wantContains(t, "token list", out.String(), "admin", "active")
	if strings.Contains(out.String(), first) {
		t.Error("token list prints the secret")
	}
	resp, err := http.Get(url + "/api/v1/studies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET /studies = %d, want 401", resp.StatusCode)
	}
	// A restart keeps the token: the store has one, the file stays.
	stop()
	startServe(t, "--database-url=")
	if again, _ := readTokenFile(path); again != first {
		t.Error("a restart replaced the token file")
	}
}

// TestServeInsecure: --insecure serves without tokens on loopback only.
func TestServeInsecure(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0"} {
		cmd := newRootCommand()
		cmd.SetArgs([]string{"serve", "--insecure", "--addr", addr, "--database-url=", "--data-dir", t.TempDir()})
		err := cmd.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("serve --insecure --addr %s = %v, want a refusal", addr, err)
		}
	}
	url, _ := startServe(t, "--insecure", "--database-url=", "--data-dir", t.TempDir())
	resp, err := http.Get(url + "/api/v1/studies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous GET /studies on an insecure server = %d, want 200", resp.StatusCode)
	}
}

// TestTokenCommands: create, use, list and revoke tokens from the CLI.
func TestTokenCommands(t *testing.T) {
	url, _ := startServe(t, "--database-url=", "--data-dir", t.TempDir())
	c := cli{t: t, server: url}
	secret := strings.TrimSpace(c.ok("token", "create", "dashboard", "--scope", "read"))
	if !auth.LooksLikeSecret(secret) {
		t.Fatalf("token create printed %q, want the secret", secret)
	}
	c.ok("--token", secret, "study", "list")
	path := writeFile(t, "study.json", `{"name": "s", "objective": {"metric": "loss"},
		"search_space": {"x": {"type": "float", "low": -5, "high": 5}}}`)
	wantContains(t, "read token creating a study", c.fails("--token", secret, "study", "create", "-f", path), "403", "dashboard")
	wantContains(t, "token list", c.ok("token", "list"), "dashboard", "read", "admin")
	// TUNE_TOKEN_FILE names a file with the token (a container secret).
	file := writeFile(t, "token", secret+"\n")
	t.Setenv(tokenFileEnv, file)
	anon := cli{t: t} // no token added by the test helper
	anon.ok("--server", url, "study", "list")
	wantContains(t, "read token from TUNE_TOKEN_FILE", anon.fails("--server", url, "study", "create", "-f", path), "403")
	t.Setenv(tokenFileEnv, file+".missing")
	wantContains(t, "missing TUNE_TOKEN_FILE", anon.fails("--server", url, "study", "list"), tokenFileEnv)
	t.Setenv(tokenFileEnv, "")
	c.ok("token", "revoke", "dashboard")
	wantContains(t, "revoked token", c.fails("--token", secret, "study", "list"), "401", "revoked")
	wantContains(t, "revoke unknown", c.fails("token", "revoke", "nobody"), "no live token")
	c.fails("token", "create", "x", "--scope", "root")
}

// TestTokenNeverInHelp: a token in the environment is not printed by help.
func TestTokenNeverInHelp(t *testing.T) {
	secret, _, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	metricsSecret, _, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(tokenEnv, secret)
	t.Setenv("TUNE_METRICS_TOKEN", metricsSecret)
	for _, args := range [][]string{{"--help"}, {"study", "list", "--help"}, {"runner", "--help"}, {"serve", "--help"},
		{"demo", "--help"}, {"token", "--help"}, {"token", "create", "--help"}, {"health", "--help"}} {
		out, _, err := cli{t: t}.run(nil, args...)
		if err != nil || strings.Contains(out, secret) || strings.Contains(out, metricsSecret) {
			t.Errorf("tune %s printed a token (%v):\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMetricsTokenSetting: --metrics-token is a setting like the others,
// the flag before TUNE_METRICS_TOKEN.
func TestMetricsTokenSetting(t *testing.T) {
	resolve := func(args ...string) string {
		var o serveAuthOptions
		cmd := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true}
		addServeAuthFlags(cmd.Flags(), &o)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd) }
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return o.metricsToken
	}
	if got := resolve(); got != "" {
		t.Errorf("default metrics token %q, want none", got)
	}
	t.Setenv("TUNE_METRICS_TOKEN", "from-env")
	if got := resolve(); got != "from-env" {
		t.Errorf("metrics token %q, want the variable's", got)
	}
	if got := resolve("--metrics-token", "from-flag"); got != "from-flag" {
		t.Errorf("metrics token %q, want the flag's", got)
	}
}
