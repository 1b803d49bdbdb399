package web_test

// These tests run the dashboard in a real browser (Debian's chromium,
// headless, driven by chromedp) against the real service on a real
// Postgres database. Without chromium they fail, so that CI cannot pass by
// testing nothing; TUNE_SKIP_BROWSER_TESTS=1 opts out on a machine that
// has no browser.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/service"
	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/tuner"
)

// site is a real server on a fresh database.
type site struct {
	t     *testing.T
	url   string
	dbURL string
	// token is the bearer secret call sends, on a server with tokens.
	token string
}

func newSite(t *testing.T) *site {
	t.Helper()
	dbURL := pgtest.URL(t)
	store, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(service.Config{Store: store, Tuner: tuner.New(store), ReapInterval: 100 * time.Millisecond, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close(); store.Close() })
	return &site{t: t, url: ts.URL, dbURL: dbURL}
}

// call sends a JSON request to the API and decodes the answer into out.
func (s *site) call(method, path, body string, want int, out any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+"/api/v1"+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

type trial struct {
	ID     int64          `json:"id"`
	Number int            `json:"number"`
	Params map[string]any `json:"params"`
}

func (s *site) ask(study, runner string) trial {
	s.t.Helper()
	var tr trial
	s.call("POST", "/studies/"+study+"/ask", fmt.Sprintf(`{"runner": %q}`, runner), http.StatusCreated, &tr)
	return tr
}

func (s *site) report(id int64, step int, value, speed float64) {
	s.t.Helper()
	s.call("POST", fmt.Sprintf("/trials/%d/report", id),
		fmt.Sprintf(`{"step": %d, "value": %v, "metrics": {"samples_per_second": %v}}`, step, value, speed), http.StatusOK, nil)
}

func (s *site) tell(id int64, body string) {
	s.t.Helper()
	s.call("POST", fmt.Sprintf("/trials/%d/tell", id), body, http.StatusOK, nil)
}

// browser is one headless chromium tab that records what the page writes
// to its console.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
	// expected are console errors a test provokes on purpose (the
	// browser logs every refused request), by a fragment of their text.
	expected []string
}

// expectConsoleError keeps console errors containing fragment from failing
// the test.
func (b *browser) expectConsoleError(fragment string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, fragment)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("TUNE_CHROMIUM")
	if path == "" {
		var err error
		if path, err = exec.LookPath("chromium"); err != nil {
			if os.Getenv("TUNE_SKIP_BROWSER_TESTS") == "1" {
				t.Skip("no chromium, and TUNE_SKIP_BROWSER_TESTS=1")
			}
			t.Fatal("the dashboard's tests need chromium (apt-get install chromium), or TUNE_CHROMIUM=/path/to/chrome; set TUNE_SKIP_BROWSER_TESTS=1 to skip them")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	// Start the browser now, outside any timeout: a timeout on the first
	// Run's context would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(b.checkConsole)
	return b
}

// checkConsole fails the test for every error or exception the pages
// wrote to the console.
func (b *browser) checkConsole() {
	b.mu.Lock()
	defer b.mu.Unlock()
	expected := func(m chromedp.ConsoleMessage) bool {
		for _, f := range b.expected {
			if strings.Contains(m.String(), f) {
				return true
			}
		}
		return false
	}
	for _, m := range b.messages {
		switch {
		case (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) && !expected(m):
			b.t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
		default:
			b.t.Logf("browser console: %s", m)
		}
	}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// open loads url and waits until the app has rendered its page once.
func (b *browser) open(url, page string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
	b.waitFor(fmt.Sprintf(`window.tuneDashboard && tuneDashboard.page === %q && tuneDashboard.ready`, page))
}

// waitFor polls a JavaScript predicate with a bounded deadline.
func (b *browser) waitFor(expr string) {
	b.t.Helper()
	b.waitForWithin(expr, 60*time.Second)
}

// waitForWithin is waitFor with its own deadline, for pages whose work
// scales with the machine's speed: a big study's charts redraw at most
// once per ten times their drawing time, which on a loaded 2-core machine
// can pass a minute.
func (b *browser) waitForWithin(expr string, d time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
		b.t.Fatalf("waiting for %s: %v", expr, err)
	}
}

func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

type series struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Points int    `json:"points"`
}

// chart returns the number of data items of each series of a chart, as
// ECharts holds them.
func (b *browser) chart(name string) map[string]int {
	b.t.Helper()
	ss := eval[[]series](b, fmt.Sprintf(`tuneDashboard.chartData(%q)`, name))
	if ss == nil {
		b.t.Fatalf("the page has no chart %q; it has %v", name, eval[[]string](b, `tuneDashboard.chartNames()`))
	}
	out := map[string]int{}
	for _, s := range ss {
		out[s.Name] = s.Points
	}
	return out
}

const space = `{
  "learning_rate": {"type": "float", "low": 1e-5, "high": 1.0, "log": true},
  "batch_size":    {"type": "int", "low": 16, "high": 1024, "log": true},
  "activation":    {"type": "categorical", "choices": ["relu", "tanh", "sigmoid"]},
  "workers":       {"type": "int", "low": 1, "high": 4}
}`

func TestDashboardShowsAStudyLive(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)

	var st struct {
		ID int64 `json:"id"`
	}
	s.call("POST", "/studies", `{"name": "browser-study", "objective": {"metric": "val_accuracy", "direction": "maximize"},
		"sampler": {"type": "random", "seed": 3}, "max_trials": 40, "search_space": `+space+`}`, http.StatusCreated, &st)

	// Eight complete trials with curves and speeds, two pruned after one
	// step, one failed, one still running, on two runners.
	complete, runningID := 0, int64(0)
	for i := range 12 {
		runner := []string{"gpu-box-1", "gpu-box-2"}[i%2]
		tr := s.ask("browser-study", runner)
		acc := 0.5 + 0.04*float64(i%8)
		switch {
		case i < 8:
			for step := range 3 {
				s.report(tr.ID, step, acc-0.1*float64(2-step), 1000+300*float64(i))
			}
			s.tell(tr.ID, fmt.Sprintf(`{"state": "complete", "value": %v, "metrics": {"samples_per_second": %v, "val_loss": %v}}`, acc, 1000+300*float64(i), 1-acc))
			complete++
		case i < 10:
			s.report(tr.ID, 0, 0.2, 900)
			s.tell(tr.ID, `{"state": "pruned"}`)
		case i == 10:
			s.tell(tr.ID, `{"state": "failed", "error": "CUDA out of memory at step 0"}`)
		default:
			s.report(tr.ID, 0, 0.55, 1200)
			runningID = tr.ID
		}
	}

	// The list of studies.
	b.open(s.url+"/", "list")
	row := eval[string](b, `document.querySelector('table.studies tbody tr').innerText`)
	for _, want := range []string{"browser-study", "running", "8 complete", "2 pruned", "1 failed", "1 running", "11 / 40"} {
		if !strings.Contains(row, want) {
			t.Errorf("study row %q lacks %q", row, want)
		}
	}
	// One trial runs, on one runner.
	runners := eval[string](b, `(() => {
		const heads = [...document.querySelectorAll('table.studies thead th')].map(th => th.textContent);
		return document.querySelector('table.studies tbody tr').children[heads.indexOf('Running runners')].innerText;
	})()`)
	if runners != "1" {
		t.Errorf("the list shows %q running runners, want 1", runners)
	}
	// A link on the list leads to the study page without a reload.
	b.do(chromedp.Click(chromedp.CSS(`table.studies a`)))
	b.waitFor(`tuneDashboard.page === 'study' && tuneDashboard.ready`)
	if path := eval[string](b, `location.pathname`); path != fmt.Sprintf("/studies/%d", st.ID) {
		t.Errorf("the study link led to %s", path)
	}

	// A study without trials yet is a page of empty charts, not an error.
	s.call("POST", "/studies", `{"name": "empty", "objective": {"metric": "loss"}, "search_space": `+space+`}`, http.StatusCreated, nil)
	b.open(s.url+"/studies/empty", "study")
	if got := b.chart("history")["value"]; got != 0 {
		t.Errorf("an empty study's history has %d points", got)
	}
	if n := eval[int](b, `tuneDashboard.tableRows()`); n != 0 {
		t.Errorf("an empty study's table has %d rows", n)
	}

	// The study page, loaded by its URL as after a reload, by name.
	b.open(s.url+"/studies/browser-study", "study")
	b.waitFor(`tuneDashboard.chartData('importance').length === 1`)
	checks := []struct {
		chart, series string
		want          int
	}{
		{"history", "value", complete},
		{"history", "best so far", complete},
		{"curves", "pruned here", 2},
		{"parallel", "trials", complete},
		{"importance", "importance", 4},
		{"timeline", "trials", 12},
	}
	for _, p := range []string{"activation", "batch_size", "learning_rate", "workers"} {
		checks = append(checks, struct {
			chart, series string
			want          int
		}{"slice:" + p, p, complete})
	}
	for _, c := range checks {
		if got := b.chart(c.chart)[c.series]; got != c.want {
			t.Errorf("chart %s series %q has %d points, want %d", c.chart, c.series, got, c.want)
		}
	}
	curves := eval[map[string]int](b, `tuneDashboard.curves`)
	if curves["complete"] != complete || curves["pruned"] != 2 || curves["running"] != 1 || curves["failed"] != 0 {
		t.Errorf("learning curves by state = %v, want 8 complete, 2 pruned, 1 running", curves)
	}
	// Speed against accuracy: every complete trial is a point, and here,
	// where speed and accuracy grow together, only the fastest trial is
	// Pareto-optimal.
	if p := b.chart("pareto"); p["trials"]+p["Pareto-optimal"] != complete || p["Pareto-optimal"] != 1 {
		t.Errorf("speed vs accuracy = %v, want %d trials with 1 Pareto-optimal", p, complete)
	}
	if x := eval[string](b, `document.querySelector('select[aria-label="x metric"]').value`); x != "samples_per_second" {
		t.Errorf("speed vs accuracy's x = %q, want samples_per_second", x)
	}
	if n := eval[int](b, `tuneDashboard.tableRows()`); n != 12 {
		t.Errorf("trial table has %d rows, want 12", n)
	}

	// Sorting the table by the objective puts the best trial first.
	b.do(chromedp.Click(chromedp.CSS(`table.trials th[data-key="value"]`)))
	first := eval[string](b, `document.querySelector('table.trials tbody tr').dataset.number`)
	if first != "7" {
		t.Errorf("after sorting by value (best first) the first row is trial %s, want 7", first)
	}
	b.do(chromedp.Click(chromedp.CSS(`table.trials th[data-key="value"]`)))
	first = eval[string](b, `document.querySelector('table.trials tbody tr').dataset.number`)
	if first == "7" {
		t.Errorf("sorting by value again did not reverse the order")
	}

	// Live: a trial that finishes while the page is open shows up without
	// a reload.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	s.tell(runningID, `{"state": "complete", "value": 0.99, "metrics": {"samples_per_second": 9000, "val_loss": 0.01}}`)
	b.waitFor(fmt.Sprintf(`tuneDashboard.chartData('history')[0].points === %d`, complete+1))
	if !eval[bool](b, `window.__sameDocument === true`) {
		t.Error("the page reloaded to show the update")
	}
	if got := b.chart("pareto")["Pareto-optimal"]; got != 1 {
		t.Errorf("after the fastest and best trial finished, %d Pareto-optimal, want 1", got)
	}
	head := eval[string](b, `document.querySelector('.study-head').innerText`)
	if !strings.Contains(head, "0.99") || !strings.Contains(head, "9 complete") {
		t.Errorf("study header after the update: %q", head)
	}

	// A trial's own page: its params, metrics, curve and error.
	b.open(s.url+fmt.Sprintf("/studies/%d/trials/10", st.ID), "study")
	b.waitFor(`document.querySelector('#trial-panel[data-number="10"]') !== null`)
	panel := eval[string](b, `document.querySelector('#trial-panel').innerText`)
	for _, want := range []string{"Trial #10", "failed", "CUDA out of memory at step 0", "gpu-box-1", "learning_rate", "activation",
		"params from", "random · sampled at random"} {
		if !strings.Contains(panel, want) {
			t.Errorf("trial panel lacks %q:\n%s", want, panel)
		}
	}
	// Escape closes it; clicking a row of the table opens another.
	b.do(chromedp.KeyEvent("\u001b"))
	b.waitFor(`document.querySelector('.overlay').hidden`)
	b.do(chromedp.Click(chromedp.CSS(`table.trials tbody tr[data-number="3"] td:nth-child(3)`)))
	b.waitFor(`document.querySelector('#trial-panel[data-number="3"]') !== null && tuneDashboard.chartData('trialCurve') !== null`)
	if got := b.chart("trialCurve")["val_accuracy"]; got != 3 {
		t.Errorf("trial 3's learning curve has %d points, want 3", got)
	}
	if path := eval[string](b, `location.pathname`); path != fmt.Sprintf("/studies/%d/trials/3", st.ID) {
		t.Errorf("opening trial 3 went to %s", path)
	}
	b.do(chromedp.KeyEvent("\u001b"))
	b.waitFor(`document.querySelector('.overlay').hidden`)
}

// TestDashboardAt5000Trials writes 5,000 finished trials straight into the
// database, opens the study and checks that every chart holds every point
// while the table renders one page of rows; then a trial finishes and the
// page shows it.
func TestDashboardAt5000Trials(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)
	var st struct {
		ID int64 `json:"id"`
	}
	s.call("POST", "/studies", `{"name": "big", "objective": {"metric": "val_loss"}, "sampler": {"type": "random"}, "search_space": `+space+`}`, http.StatusCreated, &st)

	const n = 5000
	counts := bulkTrials(t, s.dbURL, st.ID, n)

	b.open(s.url+fmt.Sprintf("/studies/%d", st.ID), "study")
	if got := eval[int](b, `tuneDashboard.trials`); got != n {
		t.Fatalf("the page loaded %d trials, want %d", got, n)
	}
	// Logged, never asserted: timings depend on the machine.
	t.Logf("rendering %d trials took %d ms: %v", n, eval[int](b, `tuneDashboard.renderMs`), eval[map[string]int](b, `tuneDashboard.timings`))
	for chart, want := range map[string]map[string]int{
		"history":          {"value": counts["complete"], "best so far": counts["complete"]},
		"parallel":         {"trials": counts["complete"]},
		"timeline":         {"trials": n},
		"slice:workers":    {"workers": counts["complete"]},
		"slice:activation": {"activation": counts["complete"]},
		"curves":           {"pruned here": counts["pruned"]},
		"slice:batch_size": {"batch_size": counts["complete"]},
	} {
		got := b.chart(chart)
		for name, w := range want {
			if got[name] != w {
				t.Errorf("chart %s series %q has %d points, want %d", chart, name, got[name], w)
			}
		}
	}
	curves := eval[map[string]int](b, `tuneDashboard.curves`)
	if curves["complete"] != counts["complete"] || curves["pruned"] != counts["pruned"] {
		t.Errorf("learning curves = %v, want %v", curves, counts)
	}
	if rows := eval[int](b, `tuneDashboard.tableRows()`); rows != 50 {
		t.Errorf("the trial table renders %d rows, want one page of 50", rows)
	}
	b.do(chromedp.Click(chromedp.CSS(`.pager button:last-child`)))
	if last := eval[string](b, `document.querySelector('table.trials tbody tr:last-child').dataset.number`); last != fmt.Sprint(n-1) {
		t.Errorf("the last page ends with trial %s, want %d", last, n-1)
	}

	// The page polls from the lowest unfinished trial on: with all 5,000
	// finished it reads one short page per poll, and a new trial appears.
	tr := s.ask("big", "late-runner")
	s.tell(tr.ID, `{"state": "complete", "value": 0.001}`)
	b.waitForWithin(fmt.Sprintf(`tuneDashboard.trials === %d && tuneDashboard.chartData('history')[0].points === %d`, n+1, counts["complete"]+1), 4*time.Minute)
}

// bulkTrials writes n finished trials of a study in one COPY, as a study
// that ran for a long time would have them, and returns their counts by
// state.
func bulkTrials(t *testing.T, dbURL string, studyID int64, n int) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	r := rand.New(rand.NewSource(1))
	start := time.Now().Add(-time.Duration(n) * time.Second)
	counts := map[string]int{}
	rows := make([][]any, n)
	for i := range rows {
		lr := math.Exp(math.Log(1e-5) + r.Float64()*math.Log(1e5))
		params := map[string]any{
			"learning_rate": lr,
			"batch_size":    int(math.Round(math.Exp(math.Log(16) + r.Float64()*math.Log(64)))),
			"activation":    []string{"relu", "tanh", "sigmoid"}[r.Intn(3)],
			"workers":       1 + r.Intn(4),
		}
		loss := math.Abs(math.Log10(lr)+3) + r.Float64()*0.2
		state, steps := "complete", 5
		switch {
		case i%7 == 3:
			state, steps = "pruned", 2
		case i%97 == 5:
			state, steps = "failed", 1
		}
		counts[state]++
		var curve []map[string]any
		for s := range steps {
			curve = append(curve, map[string]any{"step": s, "value": loss + 1/float64(s+1), "metrics": map[string]any{"samples_per_second": 1000 + r.Float64()*9000}})
		}
		var value *float64
		metrics := map[string]any{}
		errText := ""
		switch state {
		case "complete":
			value = &loss
			metrics = map[string]any{"samples_per_second": 1000 + r.Float64()*9000, "wall_seconds": 4 * r.Float64()}
		case "pruned":
			v := curve[len(curve)-1]["value"].(float64)
			value = &v
		case "failed":
			errText = "diverged"
		}
		began := start.Add(time.Duration(i) * time.Second / 4)
		rows[i] = []any{studyID, i, state, jsonText(t, params), value, jsonText(t, curve), jsonText(t, metrics),
			fmt.Sprintf("runner-%d", i%4), began, began, began.Add(time.Duration(500+r.Intn(1500)) * time.Millisecond), errText}
	}
	cols := []string{"study_id", "number", "state", "params", "value", "intermediate", "metrics", "runner", "created_at", "started_at", "finished_at", "error"}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"trials"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	// The study's trial counter, so that the next trial is number n.
	if _, err := conn.Exec(ctx, `UPDATE studies SET next_number = $2 WHERE id = $1`, studyID, n); err != nil {
		t.Fatal(err)
	}
	return counts
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

// User text (runner names, metric names, choices) reaches
// tooltips, which ECharts inserts as HTML: the page must show it as text.
func TestDashboardShowsUserTextAsText(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)

	const evil = `<img id=pwned src=x onerror="document.title='pwned'">`
	var st struct {
		ID int64 `json:"id"`
	}
	s.call("POST", "/studies", fmt.Sprintf(`{"name": "hostile", "objective": {"metric": "acc"},
		"sampler": {"type": "random", "seed": 1},
		"search_space": {"x": {"type": "categorical", "choices": [%q]}}}`, evil), http.StatusCreated, &st)
	tr := s.ask("hostile", evil)
	s.call("POST", fmt.Sprintf("/trials/%d/report", tr.ID), fmt.Sprintf(`{"step": 0, "value": 0.5, "metrics": {%q: 1}}`, evil), http.StatusOK, nil)
	s.tell(tr.ID, `{"state": "complete", "value": 0.5}`)

	b.open(fmt.Sprintf("%s/studies/%d", s.url, st.ID), "study")
	for _, c := range []struct {
		chart string
		want  string
	}{
		{"timeline", evil},
		{"slice:x", "x: " + evil},
	} {
		got := eval[*struct {
			HTML     string `json:"html"`
			Text     string `json:"text"`
			Elements int    `json:"elements"`
		}](b, fmt.Sprintf(`tuneDashboard.tooltip(%q, 0, 0)`, c.chart))
		if got == nil {
			t.Fatalf("chart %s shows no tooltip; charts: %v", c.chart, eval[[]string](b, `tuneDashboard.chartNames()`))
		}
		if !strings.Contains(got.Text, c.want) {
			t.Errorf("chart %s's tooltip reads %q, want it to contain %q as text", c.chart, got.Text, c.want)
		}
		if strings.Contains(got.HTML, "<img") {
			t.Errorf("chart %s's tooltip carries markup from the API: %s", c.chart, got.HTML)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('#pwned').length`); n != 0 {
		t.Errorf("the page made %d elements from user text", n)
	}
	if title := eval[string](b, `document.title`); title == "pwned" {
		t.Error("user text ran as script")
	}
	b.checkConsole()
}

// TestDashboardMultiObjective fills a two-objective study with a
// constraint over the API and checks that the study page draws the
// service's front, greys the trial that breaks the constraint and says
// which, plots the hypervolume, and that the table and trial view show
// failure kinds.
func TestDashboardMultiObjective(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)
	var st struct {
		ID int64 `json:"id"`
	}
	s.call("POST", "/studies", `{"name": "mo", "sampler": {"type": "random", "seed": 1},
		"objectives": [{"metric": "acc", "direction": "maximize"}, {"metric": "speed", "direction": "maximize"}],
		"constraints": [{"metric": "memory", "max": 100}],
		"search_space": {"x": {"type": "float", "low": 0, "high": 1}}}`, http.StatusCreated, &st)
	results := []string{
		`{"state": "complete", "metrics": {"acc": 0.9, "speed": 100, "memory": 50}}`,   // front
		`{"state": "complete", "metrics": {"acc": 0.95, "speed": 50, "memory": 50}}`,   // front
		`{"state": "complete", "metrics": {"acc": 0.85, "speed": 40, "memory": 50}}`,   // dominated by 0
		`{"state": "complete", "metrics": {"acc": 0.99, "speed": 200, "memory": 500}}`, // best on both, breaks memory
		`{"state": "failed", "failure_kind": "oom", "error": "out of memory"}`,
		`{"state": "complete", "metrics": {"acc": 0.8, "speed": 150, "memory": 50}}`, // front
	}
	for _, body := range results {
		tr := s.ask("mo", "r")
		s.tell(tr.ID, body)
	}

	b.open(fmt.Sprintf("%s/studies/%d", s.url, st.ID), "study")
	b.waitFor(`tuneDashboard.front === 3`)
	if got := b.chart("pareto"); got["Pareto-optimal"] != 3 || got["trials"] != 1 || got["infeasible"] != 1 {
		t.Errorf("pareto chart = %v, want the 3 trials of the front, 1 dominated and 1 infeasible", got)
	}
	tipText := eval[*struct {
		Text string `json:"text"`
	}](b, `tuneDashboard.tooltip("pareto", 3, 0)`)
	if tipText == nil || !strings.Contains(tipText.Text, "breaks") || !strings.Contains(tipText.Text, "memory") {
		t.Errorf("the infeasible trial's tooltip = %+v, want it to name the broken constraint", tipText)
	}
	if got := b.chart("history"); got["hypervolume"] != 4 {
		t.Errorf("hypervolume chart = %v, want a point after each of the 4 feasible complete trials", got)
	}
	// The three trials of the front as losses scaled over the four
	// feasible ones (acc 0.8-0.95, speed 40-150), reference point 1.1.
	loss := func(v, lo, hi float64) float64 { return 1 - (v-lo)/(hi-lo) }
	front := [][2]float64{{loss(0.95, 0.8, 0.95), loss(50, 40, 150)}, {loss(0.9, 0.8, 0.95), loss(100, 40, 150)}, {loss(0.8, 0.8, 0.95), loss(150, 40, 150)}}
	want, prevY := 0.0, 1.1
	for _, p := range front {
		want += (1.1 - p[0]) * (prevY - p[1])
		prevY = p[1]
	}
	if got := eval[float64](b, `tuneDashboard.hypervolume`); math.Abs(got-want) > 1e-9 {
		t.Errorf("hypervolume = %v, want %v", got, want)
	}
	head := eval[string](b, `document.querySelector('.study-head').innerText`)
	for _, w := range []string{"acc ↑, speed ↑", "memory ≤ 100", "3 trials"} {
		if !strings.Contains(head, w) {
			t.Errorf("the study's header %q lacks %q", head, w)
		}
	}
	rows := eval[[]string](b, `[...document.querySelectorAll('table.trials tbody tr')].map(r => r.innerText)`)
	if len(rows) != 6 || !strings.Contains(rows[3], "infeasible") || !strings.Contains(rows[4], "oom") || !strings.Contains(rows[0], "◆") || strings.Contains(rows[2], "◆") {
		t.Errorf("trial rows = %q", rows)
	}

	b.open(fmt.Sprintf("%s/studies/%d/trials/3", s.url, st.ID), "study")
	b.waitFor(`document.querySelector('#trial-feasible') != null`)
	if txt := eval[string](b, `document.querySelector('#trial-feasible').innerText`); !strings.Contains(txt, "breaks") || !strings.Contains(txt, "memory") {
		t.Errorf("trial 3's constraints read %q", txt)
	}
	b.open(fmt.Sprintf("%s/studies/%d/trials/4", s.url, st.ID), "study")
	b.waitFor(`document.querySelector('#trial-failure') != null`)
	if txt := eval[string](b, `document.querySelector('#trial-failure').innerText`); !strings.Contains(txt, "oom") || !strings.Contains(txt, "out of memory") {
		t.Errorf("trial 4's failure reads %q", txt)
	}
	b.checkConsole()
}
