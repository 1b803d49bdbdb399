package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner/workload"
	"github.com/tune-dev/tune/trials"
)

// Why a trial's context was cancelled by the runner itself.
var (
	errLeaseLost    = errors.New("the lease was lost")
	errStudyStopped = errors.New("the study was stopped")
)

// trialRun is one grant being run: the lease it holds and what the
// workload reported so far. It is the workload's Reporter.
type trialRun struct {
	r        *Runner
	g        *openapi.LeaseGrant
	id       int64
	lease    int64
	leaseDur time.Duration
	// goals are the study's objectives, the first the value of reports
	// and of the tell; constraints name metrics a complete tell needs.
	goals       []trials.Objective
	constraints []trials.Constraint
	objective   string
	log         *slog.Logger
	cancel      context.CancelCauseFunc

	mu          sync.Mutex
	deadline    time.Time // this runner's estimate of the lease expiry
	lost        error     // why the lease is gone, once it is
	stopped     bool      // the study was stopped
	lastValue   *float64
	lastMetrics map[string]float64
}

// runTrial runs one grant to its end: the workload with heartbeats and
// reports, then the tell. It returns the state told, "" when none was,
// and the failure kind told with a failed trial.
func (r *Runner) runTrial(ctx context.Context, g *openapi.LeaseGrant, slot int) (string, trials.FailureKind) {
	start := time.Now()
	leaseDur := time.Duration(g.LeaseSeconds) * time.Second
	goals := goalsOf(g.Study)
	t := &trialRun{
		r:           r,
		g:           g,
		id:          g.Trial.Id,
		lease:       g.Lease,
		leaseDur:    leaseDur,
		goals:       goals,
		constraints: constraintsOf(g.Study),
		// The grant's expiry is on the database clock, which this machine
		// does not share; the lease started no later than now, so counting
		// lease_seconds from now is the estimate to retry by.
		deadline: start.Add(leaseDur),
		log: r.log.With("study", g.Study.Name, "trial", g.Trial.Id, "number", g.Trial.Number,
			"lease", g.Lease, "slot", slot),
	}
	if len(goals) > 0 {
		t.objective = goals[0].Metric
	}
	wt, decodeErr := r.workloadTrial(g)
	params := compactJSON(wt.Params)
	if decodeErr != nil {
		params = compactJSON(g.Trial.Params)
	}
	t.log.Info("running trial", "params", params, "attempt", g.Trial.Attempt,
		"device", r.cfg.Device, "lease_seconds", g.LeaseSeconds)

	// The workload's context is cancelled by the runner's, and by the
	// heartbeats when the lease is lost or the study stopped.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t.cancel = cancel

	// Heartbeats run until the tell is done: a tell that has to wait out a
	// service hiccup needs the lease as much as the workload did.
	hbCtx, stopHeartbeats := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t.heartbeats(hbCtx)
	}()
	defer func() {
		stopHeartbeats()
		<-hbDone
	}()

	res, err := workload.Result{}, decodeErr
	if decodeErr == nil {
		res, err = t.runWorkload(wctx, wt)
	}
	cancel(nil)

	tell, ok := t.outcome(ctx, res, err)
	if !ok {
		return "", ""
	}
	var kind trials.FailureKind
	if tell.FailureKind != nil {
		kind = trials.FailureKind(*tell.FailureKind)
	}
	state := string(tell.State)
	if t.tell(ctx, tell) {
		attrs := []any{"params", params, "outcome", state, "device", r.cfg.Device,
			"wall", time.Since(start).Round(time.Millisecond)}
		if tell.Value != nil {
			attrs = append(attrs, "value", *tell.Value)
		}
		if sps, ok := t.metric(tell.Metrics, "samples_per_second"); ok {
			attrs = append(attrs, "samples_per_second", sps)
		}
		if kind != "" {
			attrs = append(attrs, "failure_kind", kind)
		}
		if tell.Error != nil {
			attrs = append(attrs, "error", client.FirstLine(*tell.Error, 200))
		}
		t.log.Info("trial finished", attrs...)
		return state, kind
	}
	return "", ""
}

// workloadTrial builds what the workload is given from the grant. The
// trial's params are decoded once, through the study's search space: JSON
// has one number type, and the space is what says which params are ints.
// A grant whose params the space refuses fails its trial with the reason.
func (r *Runner) workloadTrial(g *openapi.LeaseGrant) (workload.Trial, error) {
	wt := workload.Trial{
		ID:          g.Trial.Id,
		Number:      g.Trial.Number,
		Study:       g.Study.Name,
		Params:      trials.Params{},
		Options:     map[string]any{},
		Objectives:  goalsOf(g.Study),
		Constraints: constraintsOf(g.Study),
		Device:      r.cfg.Device,
	}
	if len(wt.Objectives) == 0 {
		return wt, errNoObjective
	}
	wt.Objective = wt.Objectives[0]
	if w := g.Study.Workload; w != nil && w.Options != nil {
		wt.Options = maps.Clone(*w.Options)
	}
	space, err := spaceOf(g.Study.SearchSpace)
	if err != nil {
		return wt, err
	}
	if wt.Params, err = space.Decode(g.Trial.Params); err != nil {
		return wt, fmt.Errorf("the trial's params do not fit the study's search space: %w", err)
	}
	return wt, nil
}

// spaceOf reads the study's search space as the domain type. The wire
// format is the domain's JSON, so a round trip converts it without a
// second copy of the field mapping.
func spaceOf(api openapi.SearchSpace) (trials.SearchSpace, error) {
	raw, err := json.Marshal(api)
	if err != nil {
		return nil, fmt.Errorf("encoding the search space: %w", err)
	}
	var space trials.SearchSpace
	if err := json.Unmarshal(raw, &space); err != nil {
		return nil, fmt.Errorf("decoding the search space: %w", err)
	}
	return space, nil
}

// runWorkload runs the study's workload, turning a panic into a failure:
// one broken trial must not take the runner's other trials down with it.
func (t *trialRun) runWorkload(ctx context.Context, wt workload.Trial) (res workload.Result, err error) {
	typ := ""
	if t.g.Study.Workload != nil {
		typ = t.g.Study.Workload.Type
	}
	w, ok := t.r.workloads[typ]
	if !ok {
		return res, fmt.Errorf("runner %s cannot run workload type %q; it runs %s", t.r.cfg.ID, typ, strings.Join(t.r.types, ", "))
	}
	defer func() {
		if p := recover(); p != nil {
			t.log.Error("workload panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("workload %s panicked: %v", typ, p)
		}
	}()
	return w.Run(ctx, wt, t)
}

// outcome decides what to tell, and whether to tell at all: a lost lease
// is not ours to tell, and an abandoned trial is left to expire.
func (t *trialRun) outcome(ctx context.Context, res workload.Result, err error) (openapi.TellRequest, bool) {
	t.mu.Lock()
	lost, stopped, last := t.lost, t.stopped, t.lastValue
	t.mu.Unlock()
	tell := openapi.TellRequest{Lease: &t.lease, Device: &t.r.cfg.Device}
	switch {
	case lost != nil:
		t.log.Warn("lease lost; the trial's result is dropped, another grant owns it now", "err", lost)
		return tell, false
	case err == nil:
		metrics := t.finiteMetrics(res.Metrics, "")
		if v, kind, failure := t.judge(res.Metrics); failure != "" {
			tell.State = "failed"
			tell.Error = ptr(trimError(failure))
			tell.FailureKind = ptr(openapi.FailureKind(kind))
		} else {
			tell.State = "complete"
			tell.Value = &v
		}
		if len(metrics) > 0 {
			tell.Metrics = (*openapi.Metrics)(&metrics)
		}
	case errors.Is(err, workload.ErrPruned):
		tell.State = "pruned"
		tell.Value = last
	case stopped:
		// Stopping a study ends its trials early, as pruning does; the
		// curve so far is kept with its last value.
		tell.State = "pruned"
		tell.Value = last
		tell.Error = ptr(fmt.Sprintf("study %q was stopped during the trial", t.g.Study.Name))
	case ctx.Err() != nil:
		if t.r.cfg.AbandonOnShutdown {
			t.log.Warn("runner stopping; trial abandoned, its lease will expire", "err", err)
			return tell, false
		}
		// The runner was stopped: nothing is known about the
		// configuration, and the trial deserves another run.
		tell.State = "failed"
		tell.Error = ptr(fmt.Sprintf("runner %s stopped (SIGTERM) during the trial", t.r.cfg.ID))
		tell.FailureKind = ptr(openapi.FailureKind(trials.FailurePreempted))
	default:
		tell.State = "failed"
		tell.Error = ptr(trimError(err.Error()))
		tell.FailureKind = ptr(openapi.FailureKind(failureKind(err)))
	}
	return tell, true
}

// tell sends the outcome, retrying while the lease lasts, and reports
// whether the service recorded it. After the runner was told to stop it
// has shutdownTellTimeout more.
func (t *trialRun) tell(ctx context.Context, body openapi.TellRequest) bool {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		timer := time.AfterFunc(shutdownTellTimeout, cancel)
		context.AfterFunc(tctx, func() { timer.Stop() })
	})
	defer stop()

	err := t.r.retry(tctx, t.leaseDeadline, func(actx context.Context) error {
		rsp, err := t.r.client.API.TellWithResponse(actx, t.id, body)
		return t.r.check("tell", rsp, err)
	})
	switch {
	case err == nil:
		return true
	case leaseGone(err):
		t.log.Warn("tell refused: the lease was lost meanwhile; result dropped", "state", body.State, "err", err)
	default:
		t.log.Error("tell failed; result dropped", "state", body.State, "err", err)
	}
	return false
}

// heartbeats extends the lease every third of it (at least every second)
// until ctx is done or the lease is lost; a failed heartbeat is retried
// with backoff rather than waiting a whole period.
func (t *trialRun) heartbeats(ctx context.Context) {
	every := max(time.Second, t.leaseDur/3)
	rt := t.r.cfg.Backoff.retrier()
	wait := every
	for sleep(ctx, wait) {
		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, callTimeout)
		rsp, err := t.r.client.API.HeartbeatWithResponse(actx, t.id, openapi.HeartbeatRequest{Lease: &t.lease})
		cancel()
		err = t.r.check("heartbeat", rsp, err)
		switch {
		case err == nil && rsp.JSON200 != nil:
			t.r.outage.up(t.r.log)
			rt.reset()
			wait = every
			t.mu.Lock()
			t.deadline = sent.Add(t.leaseDur)
			t.mu.Unlock()
			if rsp.JSON200.Stop {
				t.mu.Lock()
				first := !t.stopped
				t.stopped = true
				t.mu.Unlock()
				if first {
					t.log.Info("study stopped; cancelling the trial")
					t.cancel(errStudyStopped)
				}
			}
		case ctx.Err() != nil:
			return
		case leaseGone(err):
			t.loseLease(err)
			return
		case err == nil || client.Transient(err):
			if err == nil {
				err = errors.New("heartbeat: answer without a body")
			}
			t.r.outage.down(t.r.log, err)
			wait = min(rt.next(), every)
		default:
			t.log.Warn("heartbeat refused", "err", err)
			wait = every
		}
	}
}

// loseLease records that the service gave the lease to someone else (or
// deleted the trial) and stops the workload: its result can no longer be
// told.
func (t *trialRun) loseLease(err error) {
	t.mu.Lock()
	first := t.lost == nil
	if first {
		t.lost = err
	}
	t.mu.Unlock()
	if first {
		t.log.Warn("lease lost; cancelling the trial", "err", err)
		t.cancel(errLeaseLost)
	}
}

func (t *trialRun) leaseDeadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deadline
}

// Report implements workload.Reporter: the step's (first) objective
// metric is the value, the rest go along as metrics. A report the service
// cannot take is skipped with a warning rather than failing the trial;
// only a lost lease stops it, and an objective that is NaN or infinite,
// which ends the trial as diverged at once rather than train on.
//
// profile, when not nil, goes along with the report.
func (t *trialRun) Report(ctx context.Context, step int, metrics map[string]float64, profile *trials.Profile) (bool, error) {
	for _, g := range t.goals {
		if v, ok := metrics[g.Metric]; ok && !finite(v) {
			return false, workload.Fail(trials.FailureDiverged,
				fmt.Errorf("objective metric %s is %v at step %d: the run diverged", g.Metric, v, step))
		}
	}
	v, ok := metrics[t.objective]
	if !ok {
		t.log.Warn("report skipped: the step lacks the objective metric", "step", step,
			"objective", t.objective, "metrics", metricNames(metrics))
		return false, nil
	}
	body := openapi.ReportRequest{Step: step, Value: v, Lease: &t.lease}
	if others := t.finiteMetrics(metrics, t.objective); len(others) > 0 {
		body.Metrics = (*openapi.Metrics)(&others)
	}
	body.Profile = t.profileToAPI(step, profile)
	var prune bool
	err := t.r.retry(ctx, t.leaseDeadline, func(actx context.Context) error {
		rsp, err := t.r.client.API.ReportWithResponse(actx, t.id, body)
		if err := t.r.check("report", rsp, err); err != nil {
			return err
		}
		if rsp.JSON200 == nil {
			return fmt.Errorf("report: the server answered %d without a decision", rsp.StatusCode())
		}
		prune = rsp.JSON200.Prune
		return nil
	})
	switch {
	case err == nil:
		t.mu.Lock()
		t.lastValue, t.lastMetrics = &v, metrics
		t.mu.Unlock()
		return prune, nil
	case ctx.Err() != nil:
		return false, context.Cause(ctx)
	case leaseGone(err):
		t.loseLease(err)
		return false, errLeaseLost
	default:
		t.log.Warn("report not recorded", "step", step, "err", err)
		return false, nil
	}
}

// finiteMetrics copies m without except and without values JSON cannot
// carry (NaN, ±Inf), which the service would refuse along with the rest.
func (t *trialRun) finiteMetrics(m map[string]float64, except string) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		switch {
		case k == except:
		case !finite(v):
			t.log.Warn("metric dropped: not a finite number", "metric", k, "value", v)
		default:
			out[cleanText(k)] = v
		}
	}
	return out
}

// metric finds name in the told metrics, else in the last report's.
func (t *trialRun) metric(told *openapi.Metrics, name string) (float64, bool) {
	if told != nil {
		if v, ok := (*told)[name]; ok {
			return v, true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.lastMetrics[name]
	return v, ok
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func metricNames(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// compactJSON renders params for a log line: one line, keys sorted.
func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// trimError keeps a failed trial's error within maxErrorBytes: its head,
// which says what failed, and its tail, where a crash's last output is.
func trimError(s string) string {
	s = cleanText(s)
	if len(s) <= maxErrorBytes {
		return s
	}
	const head = 1 << 10
	const marker = "\n[... %d bytes elided ...]\n"
	tail := maxErrorBytes - head - len(marker) - 8
	h, rest := cutRunes(s, head)
	cut := len(rest) - tail
	for cut < len(rest) && !utf8.RuneStart(rest[cut]) {
		cut++
	}
	return h + fmt.Sprintf(marker, cut) + rest[cut:]
}

// cleanText replaces NUL bytes and invalid UTF-8, which no store keeps and
// the service refuses, with U+FFFD: a trial's result must not be lost to
// what a workload printed.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cutRunes splits s at the last rune boundary at or before n bytes.
func cutRunes(s string, n int) (string, string) {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], s[n:]
}
