package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// stepProfile is a step's profile whose optimizer takes opt of wall
// seconds, the rest split between data, forward and backward.
func stepProfile(wall, opt float64) string {
	rest := (wall - opt) / 3
	return fmt.Sprintf(`{"wall_seconds": %v, "phases": {"data": %v, "forward": %v, "backward": %v, "optimizer": %v},
		"heap_peak_bytes": 10485760, "rss_peak_bytes": 20971520, "device_peak_bytes": 4194304,
		"matmul_flops": 2e9, "matmul_seconds": %v, "peak_flops": 1e10}`, wall, rest, rest, rest, opt, rest*2)
}

// TestDashboardShowsProfiles: the trial view shows a profiled trial's
// phases per step, memory, FLOP/s and bottleneck reading, live as steps
// are reported; the study page shows every profiled trial's phase shares
// sorted by a chosen param; a trial without profiles shows none of it;
// user text in the reading stays text.
func TestDashboardShowsProfiles(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)

	var st struct {
		ID int64 `json:"id"`
	}
	const evil = `<img src=x onerror=window.__xss=1>`
	s.call("POST", "/studies", `{"name": "prof", "objective": {"metric": "val_accuracy", "direction": "maximize"},
		"sampler": {"type": "random", "seed": 1}, "search_space": {
		"batch_size": {"type": "int", "low": 16, "high": 1024},
		"precision": {"type": "categorical", "choices": ["float32", "float64"]},
		"optimizer": {"type": "categorical", "choices": ["adam", "`+evil+`"]}}}`, http.StatusCreated, &st)
	params := func(batch int, precision, optimizer string) string {
		return fmt.Sprintf(`{"batch_size": %d, "precision": %q, "optimizer": %q}`, batch, precision, optimizer)
	}
	// Three finished trials with two profiled steps each (#0-#2), one
	// without profiles (#3), and one running (#4).
	for _, tr := range []struct {
		batch int
		prec  string
		opt   float64
	}{{256, "float64", 6}, {32, "float32", 2}, {64, "float64", 4}} {
		s.call("POST", "/studies/prof/trials", fmt.Sprintf(`{"state": "complete", "value": 0.9, "params": %s,
			"intermediate_values": [{"step": 0, "value": 0.8, "profile": %s}, {"step": 1, "value": 0.9, "profile": %s}]}`,
			params(tr.batch, tr.prec, "adam"), stepProfile(10, tr.opt), stepProfile(10, tr.opt)), http.StatusCreated, nil)
	}
	s.call("POST", "/studies/prof/trials", `{"state": "complete", "value": 0.7, "params": `+params(512, "float32", "adam")+`,
		"intermediate_values": [{"step": 0, "value": 0.7}]}`, http.StatusCreated, nil)
	s.call("POST", "/studies/prof/trials", `{"params": `+params(128, "float64", evil)+`}`, http.StatusCreated, nil)
	running := s.ask("prof", "r1")
	if running.Number != 4 {
		t.Fatalf("the enqueued trial was not handed out: got #%d", running.Number)
	}
	reportProfile := func(step int, opt float64) {
		t.Helper()
		s.call("POST", fmt.Sprintf("/trials/%d/report", running.ID),
			fmt.Sprintf(`{"step": %d, "value": 0.5, "profile": %s}`, step, stepProfile(10, opt)), http.StatusOK, nil)
	}
	reportProfile(0, 7)
	reading := func() string {
		var tr struct {
			Bottleneck string `json:"bottleneck"`
		}
		s.call("GET", fmt.Sprintf("/trials/%d", running.ID), "", http.StatusOK, &tr)
		return tr.Bottleneck
	}

	// The trial view of the running trial.
	b.open(s.url+fmt.Sprintf("/studies/%d/trials/4", st.ID), "study")
	b.waitFor(`document.querySelector('#trial-panel[data-number="4"] #trial-profile') !== null && tuneDashboard.chartData('trialPhases') !== null`)
	phases := b.chart("trialPhases")
	for _, p := range []string{"data", "forward", "backward", "optimizer"} {
		if phases[p] != 1 {
			t.Errorf("trial #4's phase chart: %q has %d steps, want 1 (%v)", p, phases[p], phases)
		}
	}
	if m := b.chart("trialMemory"); m["heap peak"] != 1 || m["RSS peak"] != 1 || m["device peak"] != 1 || len(m) != 3 {
		t.Errorf("trial #4's memory chart = %v, want heap, RSS and device peaks at 1 step", m)
	}
	if f := b.chart("trialFlops"); f["achieved"] != 1 || f["peak"] != 1 {
		t.Errorf("trial #4's FLOP/s chart = %v, want achieved and peak at 1 step", f)
	}
	want := reading()
	if !strings.HasPrefix(want, "70% of the epoch is the optimizer step (optimizer "+evil+", precision float64)") {
		t.Fatalf("the API's reading is %q", want)
	}
	if got := eval[string](b, `document.querySelector('#trial-bottleneck').innerText`); got != want {
		t.Errorf("the trial view's reading = %q, want the API's %q", got, want)
	}

	// Live: a step reported while the view is open shows up, and the
	// reading follows it.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	reportProfile(1, 1)
	b.waitFor(`tuneDashboard.chartData('trialPhases') !== null && tuneDashboard.chartData('trialPhases')[0].points === 2`)
	want = reading()
	if !strings.HasPrefix(want, "40% of the epoch is the optimizer step") {
		t.Fatalf("the API's reading after step 1 is %q", want)
	}
	b.waitFor(fmt.Sprintf(`document.querySelector('#trial-bottleneck').innerText === %q`, want))
	if !eval[bool](b, `window.__sameDocument === true`) {
		t.Error("the page reloaded to show the new step")
	}

	// A trial without profiles: no profile, no error.
	b.open(s.url+fmt.Sprintf("/studies/%d/trials/3", st.ID), "study")
	b.waitFor(`document.querySelector('#trial-panel[data-number="3"]') !== null && tuneDashboard.chartData('trialCurve') !== null`)
	if eval[bool](b, `document.querySelector('#trial-profile') !== null || tuneDashboard.chartData('trialPhases') !== null || tuneDashboard.chartData('trialMemory') !== null`) {
		t.Error("a trial without profiles shows a profile")
	}

	// The study page: one bar per profiled trial, sorted by batch size
	// (the default), then by precision when chosen.
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.overlay .close').click()`))
	b.waitFor(`document.querySelector('.overlay').hidden && !document.querySelector('#profile-card').hidden`)
	b.waitFor(`tuneDashboard.chartData('profile').length === 4`)
	shares := b.chart("profile")
	for _, p := range []string{"data", "forward", "backward", "optimizer"} {
		if shares[p] != 4 {
			t.Errorf("the study's profile chart: %q has %d trials, want 4 (%v)", p, shares[p], shares)
		}
	}
	axis := `echarts.getInstanceByDom(document.querySelector('#profile-card .chart')).getOption().xAxis[0].data.join(' | ')`
	if got := eval[string](b, axis); got != "32\n#1 | 64\n#2 | 128\n#4 | 256\n#0" {
		t.Errorf("bars by batch_size: %q", got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('select[aria-label="profile param"]'); s.value = 'precision'; s.dispatchEvent(new Event('change')); })()`))
	b.waitFor(`echarts.getInstanceByDom(document.querySelector('#profile-card .chart')).getOption().xAxis[0].name === 'precision'`)
	if got := eval[string](b, axis); got != "float32\n#1 | float64\n#0 | float64\n#2 | float64\n#4" {
		t.Errorf("bars by precision: %q", got)
	}
	// The tooltip of trial #4 (the last bar) carries its reading as text.
	tip := eval[*struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	}](b, `tuneDashboard.tooltip('profile', 0, 3)`)
	if tip == nil || !strings.Contains(tip.Text, "trial #4") || !strings.Contains(tip.Text, evil) || strings.Contains(tip.HTML, "<img") {
		t.Errorf("the profile tooltip of trial #4 = %+v, want its reading as escaped text", tip)
	}
	if eval[bool](b, `window.__xss !== undefined`) {
		t.Error("user text in a reading ran as HTML")
	}

	// A study whose trials report no profiles does not show the card.
	s.call("POST", "/studies", `{"name": "plain", "objective": {"metric": "loss"}, "search_space": {"batch_size": {"type": "int", "low": 16, "high": 64}}}`, http.StatusCreated, nil)
	s.call("POST", "/studies/plain/trials", `{"state": "complete", "value": 0.5, "params": {"batch_size": 32}, "intermediate_values": [{"step": 0, "value": 0.5}]}`, http.StatusCreated, nil)
	b.open(s.url+"/studies/plain", "study")
	if !eval[bool](b, `document.querySelector('#profile-card').hidden`) {
		t.Error("a study without profiles shows where the time goes")
	}
}
