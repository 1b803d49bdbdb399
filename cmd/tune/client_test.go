package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/tuner"
)

// startServer runs the real service on a fresh migrated database and
// returns its root URL.
func startServer(t *testing.T) string {
	t.Helper()
	store := pgtest.New(t)
	srv, err := service.New(service.Config{
		Store: store,
		Tuner: tuner.New(store),
		// The server's log belongs to the test: shown with -v or when it
		// fails, not interleaved with every run's output.
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		Insecure: true,
	})
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	// Cleanups run in reverse: stop serving, then stop the reaper, then
	// (registered by pgtest earlier) close the store.
	t.Cleanup(srv.Close)
	t.Cleanup(ts.Close)
	return ts.URL
}

// cli runs tune's commands in-process against one server.
type cli struct {
	t      *testing.T
	server string
}

// run executes `tune --server URL args...` and returns what it printed.
func (c cli) run(stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	if c.server != "" {
		args = append([]string{"--server", c.server}, withTestToken(c.server, args)...)
	}
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if stdin != nil {
		cmd.SetIn(stdin)
	}
	err = cmd.ExecuteContext(c.t.Context())
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	out, stderr, err := c.run(nil, args...)
	if err != nil {
		c.t.Fatalf("tune %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// fails runs a command that must fail and returns its error message, the
// line main would print after "tune: ".
func (c cli) fails(args ...string) string {
	c.t.Helper()
	out, _, err := c.run(nil, args...)
	if err == nil {
		c.t.Fatalf("tune %s succeeded, want an error; stdout:\n%s", strings.Join(args, " "), out)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		c.t.Errorf("tune %s: error spans several lines: %q", strings.Join(args, " "), msg)
	}
	return msg
}

// json runs a command with -o json, checks that stdout is one JSON
// document, decodes it into v and returns the raw text.
func (c cli) json(v any, args ...string) string {
	c.t.Helper()
	out := c.ok(append(args, "-o", "json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		c.t.Fatalf("tune %s -o json: %v; output:\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.HasSuffix(out, "}\n") || strings.HasSuffix(out, "\n\n") {
		c.t.Errorf("tune %s -o json: output does not end with exactly one newline: %q", strings.Join(args, " "), out)
	}
	if dec.More() {
		c.t.Fatalf("tune %s -o json printed more than one JSON document:\n%s", strings.Join(args, " "), out)
	}
	return out
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const studyYAML = `# The five knobs, as a user would write them.
name: mnist-yaml
objective:
  metric: val_accuracy
  direction: maximize
search_space:
  batch_size:    {type: int, low: 16, high: 512, log: true}
  learning_rate: {type: float, low: 1.0e-5, high: 0.1, log: true}
  activation:    {type: categorical, choices: [relu, tanh]}
  workers:       {type: categorical, choices: [1, 2, 4]}
sampler: {type: tpe, seed: 42}
max_trials: 20
max_retries: 1
lease_seconds: 600
`

const studyJSONDoc = `{
  "name": "mnist-json",
  "objective": {"metric": "val_loss", "direction": "minimize"},
  "search_space": {
    "epochs": {"type": "int", "low": 1, "high": 8},
    "dropout": {"type": "float", "low": 0, "high": 0.5, "step": 0.1}
  },
  "max_trials": 10
}`

// jsonNumber decodes one field of a JSON object as written, to tell 64
// from 64.0.
func jsonNumber(t *testing.T, raw, path string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	for key := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not inside an object", path, key)
		}
		v = m[key]
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%s = %#v, want a JSON number", path, v)
	}
	return n.String()
}

var integer = regexp.MustCompile(`^-?[0-9]+$`)

func TestStudyLifecycle(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}

	// Create from YAML: ints stay ints all the way to the server and back.
	var study openapi.Study
	raw := c.json(&study, "study", "create", "-f", writeFile(t, "study.yaml", studyYAML))
	if study.Name != "mnist-yaml" || study.State != openapi.StudyStateRunning || study.MaxTrials != 20 {
		t.Errorf("created study = %+v", study)
	}
	for _, path := range []string{"search_space.batch_size.low", "search_space.batch_size.high", "max_trials", "sampler.seed"} {
		if n := jsonNumber(t, raw, path); !integer.MatchString(n) {
			t.Errorf("%s = %s, want an integer", path, n)
		}
	}

	// Create from JSON, read from stdin, in table mode.
	out, stderr, err := c.run(strings.NewReader(studyJSONDoc), "study", "create", "-f", "-")
	if err != nil {
		t.Fatalf("study create -f - : %v\n%s", err, stderr)
	}
	wantContains(t, "study create (JSON from stdin)", out,
		"mnist-json", "minimize val_loss", "epochs", "[1, 8]", "[0, 0.5] step 0.1", "Max trials:")

	// A JSON file by name, and a duplicate name.
	jsonPath := writeFile(t, "study.json", strings.Replace(studyJSONDoc, "mnist-json", "mnist-json-2", 1))
	c.ok("study", "create", "-f", jsonPath)
	msg := c.fails("study", "create", "-f", jsonPath)
	wantContains(t, "duplicate create error", msg, "create study: conflict (409)", "mnist-json-2")

	// list, in both formats.
	out = c.ok("study", "list")
	wantContains(t, "study list", out,
		"ID", "NAME", "STATE", "TRIALS", "BEST", "DIRECTION/METRIC",
		"mnist-yaml", "0/20", "maximize val_accuracy", "mnist-json", "0/10")
	var list openapi.StudyPage
	c.json(&list, "study", "list")
	if len(list.Items) != 3 {
		t.Errorf("study list -o json: %d studies, want 3", len(list.Items))
	}

	// show, by name and by id.
	out = c.ok("study", "show", "mnist-yaml")
	wantContains(t, "study show", out,
		"Name:", "mnist-yaml", "Objective:", "maximize val_accuracy", "Sampler:", "tpe", "seed=42",
		"Search space:", "batch_size", "[16, 512] log", "activation", "relu, tanh", "workers", "1, 2, 4")
	var shown openapi.Study
	c.json(&shown, "study", "show", strconv.FormatInt(study.Id, 10))
	if shown.Name != "mnist-yaml" {
		t.Errorf("study show %d -o json: name %q", study.Id, shown.Name)
	}

	// No trial yet: best is a 404 that says so.
	msg = c.fails("study", "best", "mnist-yaml")
	wantContains(t, "best before any trial", msg, `best trial of study "mnist-yaml" not found (404)`)

	// ask -> tell -> best.
	var asked openapi.Trial
	askRaw := c.json(&asked, "ask", "mnist-yaml", "--runner", "cli-test")
	if asked.State != openapi.TrialStateRunning || asked.Runner != "cli-test" || len(asked.Params) != 4 {
		t.Errorf("ask = %+v", asked)
	}
	if n := jsonNumber(t, askRaw, "params.batch_size"); !integer.MatchString(n) {
		t.Errorf("asked batch_size = %s, want an integer", n)
	}
	id := strconv.FormatInt(asked.Id, 10)
	out = c.ok("tell", id, "--value", "0.91", "--metric", "val_loss=0.25", "--lease", strconv.FormatInt(asked.Lease, 10))
	wantContains(t, "tell", out, "trial "+id, "complete", "0.91")
	// Telling the same result again is fine; a different one is not.
	c.ok("tell", id, "--value", "0.91", "--metric", "val_loss=0.25")
	msg = c.fails("tell", id, "--value", "0.5")
	wantContains(t, "conflicting tell", msg, "tell trial "+id+": conflict (409)")

	out = c.ok("study", "best", "mnist-yaml")
	wantContains(t, "study best", out, "Trial:", "#0", "id "+id, "0.91", "batch_size", "val_loss", "0.25")
	var best openapi.Trial
	c.json(&best, "study", "best", "mnist-yaml")
	if best.Id != asked.Id || best.Value == nil || *best.Value != 0.91 || best.Metrics["val_loss"] != 0.25 {
		t.Errorf("study best -o json = %+v", best)
	}
	out = c.ok("study", "list")
	wantContains(t, "study list after a trial", out, "1/20", "0.91")

	// enqueue with typed params; the next ask hands out exactly those.
	var enq openapi.Trial
	enqRaw := c.json(&enq, "enqueue", "mnist-yaml",
		"--param", "batch_size=64", "--param", "learning_rate=0.001",
		"--param", "activation=tanh", "--param", "workers=2")
	if enq.State != openapi.TrialStateWaiting {
		t.Errorf("enqueued trial state = %s, want waiting", enq.State)
	}
	if n := jsonNumber(t, enqRaw, "params.batch_size"); n != "64" {
		t.Errorf("enqueued batch_size = %s, want 64", n)
	}
	wantParams := map[string]any{"batch_size": 64.0, "learning_rate": 0.001, "activation": "tanh", "workers": 2.0}
	var next openapi.Trial
	c.json(&next, "ask", "mnist-yaml")
	if next.Id != enq.Id {
		t.Errorf("ask after enqueue got trial %d, want the enqueued %d", next.Id, enq.Id)
	}
	if fmt.Sprint(next.Params) != fmt.Sprint(openapi.Params(wantParams)) {
		t.Errorf("ask after enqueue: params %v, want %v", next.Params, wantParams)
	}
	nextID := strconv.FormatInt(next.Id, 10)
	c.ok("tell", nextID, "--state", "failed", "--error", "loss diverged\nat epoch 3")

	// A third trial, asked in table mode, stays running.
	out = c.ok("ask", "mnist-yaml")
	wantContains(t, "ask (table)", out, "ID:", "Number:", "Lease:", "expires", "Params:", "batch_size", "learning_rate")

	// trial list, filtered, paged.
	out = c.ok("trial", "list", "mnist-yaml")
	wantContains(t, "trial list", out,
		"NUMBER", "ID", "STATE", "VALUE", "PARAMS", "ATTEMPT", "RUNNER", "DURATION",
		"complete", "failed", "running", "cli-test", "ORIGIN", "startup", "enqueued", "activation=tanh batch_size=64 learning_rate=0.001 workers=2")
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 3 {
		t.Errorf("trial list: %d rows, want 3:\n%s", n, out)
	}
	out = c.ok("trial", "list", "mnist-yaml", "--state", "complete")
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 1 || !strings.Contains(out, "0.91") {
		t.Errorf("trial list --state complete: want the one complete trial:\n%s", out)
	}
	out, stderr, err = c.run(nil, "trial", "list", "mnist-yaml", "--limit", "2")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 2 || !strings.Contains(stderr, "--all") {
		t.Errorf("trial list --limit 2: want 2 rows and a hint on stderr; stdout:\n%s\nstderr:\n%s", out, stderr)
	}
	out, stderr, err = c.run(nil, "trial", "list", "mnist-yaml", "--limit", "1", "--all")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 3 || stderr != "" {
		t.Errorf("trial list --limit 1 --all: want 3 rows and no hint; stdout:\n%s\nstderr:\n%s", out, stderr)
	}
	var page openapi.TrialPage
	c.json(&page, "trial", "list", "mnist-yaml", "--limit", "1", "--all")
	if len(page.Items) != 3 || page.NextCursor != nil {
		t.Errorf("trial list --all -o json: %d items, next_cursor %v; want 3, null", len(page.Items), page.NextCursor)
	}
	for i, tr := range page.Items {
		if tr.Number != i {
			t.Errorf("trial list --all -o json: item %d is trial #%d", i, tr.Number)
		}
	}
	c.json(&page, "trial", "list", "mnist-yaml", "--limit", "1")
	if len(page.Items) != 1 || page.NextCursor == nil {
		t.Errorf("trial list --limit 1 -o json: %d items, next_cursor %v; want 1 and a cursor", len(page.Items), page.NextCursor)
	}

	// trial show.
	out = c.ok("trial", "show", id)
	wantContains(t, "trial show (complete)", out,
		"ID:", id, "State:", "complete", "Value:", "0.91", "Runner:", "cli-test", "Origin:", "startup",
		"Started:", "Finished:", "Duration:", "PARAM", "METRIC", "val_loss")
	out = c.ok("trial", "show", nextID)
	wantContains(t, "trial show (failed)", out, "failed", "Error:", "  loss diverged", "  at epoch 3")
	var shownTrial openapi.Trial
	c.json(&shownTrial, "trial", "show", nextID)
	if shownTrial.Error != "loss diverged\nat epoch 3" || shownTrial.State != openapi.TrialStateFailed {
		t.Errorf("trial show -o json = %+v", shownTrial)
	}

	// pause: ask is refused with a clear conflict; resume: ask works again.
	out = c.ok("study", "pause", "mnist-yaml")
	wantContains(t, "pause", out, "mnist-yaml", "paused")
	msg = c.fails("ask", "mnist-yaml")
	wantContains(t, "ask while paused", msg, `ask study "mnist-yaml": conflict (409)`, "paused")
	var resumed openapi.Study
	c.json(&resumed, "study", "resume", "mnist-yaml")
	if resumed.State != openapi.StudyStateRunning {
		t.Errorf("resume -o json: state %s", resumed.State)
	}
	c.ok("ask", "mnist-yaml")
	out = c.ok("study", "stop", "mnist-yaml")
	wantContains(t, "stop", out, "done")

	// delete needs --yes.
	msg = c.fails("study", "delete", "mnist-json")
	wantContains(t, "delete without --yes", msg, "--yes")
	c.ok("study", "show", "mnist-json")
	out = c.ok("study", "delete", "mnist-json", "--yes")
	wantContains(t, "delete", out, "deleted study mnist-json")
	msg = c.fails("study", "show", "mnist-json")
	wantContains(t, "show after delete", msg, `study "mnist-json" not found (404)`)
	if out := c.ok("study", "delete", "mnist-json-2", "-y", "-o", "json"); out != "" {
		t.Errorf("delete -o json printed %q, want nothing", out)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	c := cli{t: t, server: startServer(t)}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"study", "show", "nope"}, `study "nope" not found (404)`},
		{[]string{"study", "best", "nope"}, `best trial of study "nope" not found (404)`},
		{[]string{"study", "pause", "nope"}, `study "nope" not found (404)`},
		{[]string{"study", "delete", "nope", "--yes"}, `study "nope" not found (404)`},
		{[]string{"trial", "list", "nope"}, `study "nope" not found (404)`},
		{[]string{"ask", "nope"}, `study "nope" not found (404)`},
		{[]string{"enqueue", "nope", "--param", "x=1"}, `study "nope" not found (404)`},
		{[]string{"trial", "show", "999999"}, "trial 999999 not found (404)"},
		{[]string{"tell", "999999", "--value", "1"}, "trial 999999 not found (404)"},
		// Caught before any request.
		{[]string{"tell", "1", "--value", "abc"}, `invalid --value: "abc" is not a number`},
		{[]string{"tell", "1", "--value", "1", "--state", "done"}, `invalid --state "done"`},
		{[]string{"tell", "1", "--metric", "loss"}, `invalid --metric "loss"`},
		{[]string{"trial", "show", "abc"}, `invalid trial id "abc"`},
		{[]string{"trial", "list", "x", "--state", "bogus"}, `invalid --state "bogus"`},
		{[]string{"enqueue", "x", "--param", "novalue"}, `invalid --param "novalue"`},
		// cobra's own errors.
		{[]string{"tell"}, "accepts 1 arg(s), received 0"},
		{[]string{"study", "show"}, "accepts 1 arg(s), received 0"},
		{[]string{"study", "create"}, `required flag(s) "file" not set`},
		{[]string{"study", "list", "-o", "yaml"}, "want table or json"},
		{[]string{"trial", "list", "x", "--limit", "many"}, `invalid argument "many"`},
	} {
		msg := c.fails(tc.args...)
		wantContains(t, "tune "+strings.Join(tc.args, " "), msg, tc.want)
	}

	// An invalid study file: the server's detail is in the message.
	const base = `name: bad
objective: {metric: acc}
search_space:
  lr: {type: float, low: 1, high: 0.1}
`
	msg := c.fails("study", "create", "-f", writeFile(t, "bad.yaml", base))
	wantContains(t, "invalid search space", msg, "create study:", "(422)", "lr")
	msg = c.fails("study", "create", "-f", writeFile(t, "typo.yaml", "name: typo\nobjective: {metric: acc}\nsearch_space: {x: {type: int, low: 1, high: 3}}\nmax_trail: 3\n"))
	wantContains(t, "unknown key", msg, "create study: bad request (400)", "max_trail")
	msg = c.fails("study", "create", "-f", writeFile(t, "broken.yaml", "name: [unclosed\n"))
	wantContains(t, "broken YAML", msg, "broken.yaml: invalid YAML")

	// Too many params for the space, or a value out of range: the server
	// says why.
	c.ok("study", "create", "-f", writeFile(t, "ok.yaml", "name: ok\nobjective: {metric: acc}\nsearch_space: {x: {type: int, low: 1, high: 3}}\n"))
	msg = c.fails("enqueue", "ok", "--param", "x=99")
	wantContains(t, "out-of-range enqueue", msg, `enqueue a trial in study "ok":`, "x")
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	// A server that was started and closed leaves a port nobody listens on.
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()

	c := cli{t: t, server: url}
	for _, args := range [][]string{
		{"study", "list"},
		{"study", "show", "x"},
		{"ask", "x"},
		{"tell", "1", "--value", "1"},
		{"trial", "list", "x", "--all"},
	} {
		msg := c.fails(args...)
		wantContains(t, "tune "+strings.Join(args, " "), msg,
			"cannot reach the tune server at "+url+": ",
			"start it with 'tune serve' or set --server/TUNE_SERVER")
	}
}

func TestServerFromEnvironment(t *testing.T) {
	closed := func() string {
		ts := httptest.NewServer(http.NotFoundHandler())
		ts.Close()
		return ts.URL
	}
	fromEnv, fromFlag := closed(), closed()
	t.Setenv(serverEnv, fromEnv)

	msg := cli{t: t}.fails("study", "list")
	wantContains(t, "server from "+serverEnv, msg, "cannot reach the tune server at "+fromEnv+":")
	msg = cli{t: t, server: fromFlag}.fails("study", "list")
	wantContains(t, "--server over "+serverEnv, msg, "cannot reach the tune server at "+fromFlag+":")
}

func TestNotATuneServer(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "<html>nothing here</html>")
	}))
	t.Cleanup(ts.Close)
	msg := cli{t: t, server: ts.URL}.fails("study", "show", "x")
	wantContains(t, "answer from a web server", msg,
		"answered 404 Not Found, not a tune API problem (is --server right?)", "<html>nothing here</html>")
}
