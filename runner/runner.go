// Package runner is tune's worker: it leases trials from the service, runs
// each with the workload its study names, keeps the lease alive with
// heartbeats, reports intermediate values and tells the outcome. It talks
// to the service only through the generated API client, never to the
// database, so a runner needs nothing but the service's URL.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tune-dev/tune/client"
	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/runner/workload"
)

// Defaults and limits of Config.
const (
	// DefaultWaitSeconds is how long one lease request long-polls.
	DefaultWaitSeconds = 10
	// maxWaitSeconds is the most the API accepts.
	maxWaitSeconds = 60
	// shutdownTellTimeout bounds the tells sent after the runner was told
	// to stop: long enough for a healthy service, short enough to fit in
	// the grace period a supervisor gives before SIGKILL (10 s for Docker,
	// 30 s for Kubernetes).
	shutdownTellTimeout = 5 * time.Second
	// callTimeout bounds one heartbeat, report or tell request, so that a
	// hung connection becomes a retry instead of a stuck trial.
	callTimeout = 30 * time.Second
	// maxErrorBytes is how much of a failed trial's error text is told.
	maxErrorBytes = 4 << 10
)

// Config configures a Runner. Server and Workloads are required.
type Config struct {
	// Server is the tune service's root URL, e.g. http://tune:8080; the
	// API lives under /api/v1 there.
	Server string
	// ID names the runner in trial listings and leases; hostname-pid when
	// empty. Host is the machine, os.Hostname() when empty.
	ID, Host string
	// Device is where trials run: "cpu" (the default) or "cuda:N", which
	// needs a binary built with -tags tune_cuda.
	Device string
	// Parallel is how many trials run at once; 1 when zero.
	Parallel int
	// Workloads are the workload types this runner can run; the service
	// only hands out trials of these types.
	Workloads []workload.Workload
	// Logger receives the runner's log; slog.Default() when nil.
	Logger *slog.Logger
	// WaitSeconds is how long each lease request long-polls (1..60);
	// DefaultWaitSeconds when zero.
	WaitSeconds int
	// HTTPClient sends the requests; a client without a global timeout
	// when nil (each request carries its own deadline, and lease requests
	// wait for up to WaitSeconds).
	HTTPClient *http.Client
	// Token is the bearer token the runner's requests carry (a token of
	// the runner scope, usually); empty sends none.
	Token string
	// Backoff spaces retries while the service is unreachable or failing.
	Backoff Backoff
	// FailureBackoff pauses leasing from a study whose trials keep failing
	// right after they start.
	FailureBackoff FailureBackoff
	// Devices lists the devices advertised with each lease request;
	// DefaultDevices when nil.
	Devices func() []openapi.Device
	// AbandonOnShutdown, when set, makes Run return on cancellation without
	// telling the trials it was running: their leases expire and the
	// service hands them to another runner, exactly as if this one had
	// crashed. By default they are told failed, so a study does not wait
	// out the lease. Tests use it to simulate a crash.
	AbandonOnShutdown bool
	// ExitWhenIdle makes each slot stop when a lease request finds no work
	// within WaitSeconds, so that Run returns once the queue is drained:
	// for batch jobs and scripts that run a study to its end.
	ExitWhenIdle bool
}

// Runner leases and runs trials; see Run.
type Runner struct {
	cfg       Config
	client    *client.Client
	log       *slog.Logger
	workloads map[string]workload.Workload
	types     []string
	devices   []openapi.Device
	outage    outage
	failures  *quickFailures
}

// New checks cfg and builds a Runner. It sends nothing: a service that is
// not up yet is waited for by Run.
func New(cfg Config) (*Runner, error) {
	server, err := client.ParseServer(cfg.Server)
	if err != nil || !strings.Contains(cfg.Server, "://") {
		return nil, fmt.Errorf("runner: server %q is not an http(s) URL", cfg.Server)
	}
	cfg.Server = server
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%d", cfg.Host, os.Getpid())
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 1
	}
	if cfg.Parallel < 0 {
		return nil, fmt.Errorf("runner: parallel must be at least 1, got %d", cfg.Parallel)
	}
	if cfg.WaitSeconds == 0 {
		cfg.WaitSeconds = DefaultWaitSeconds
	}
	if cfg.WaitSeconds < 0 || cfg.WaitSeconds > maxWaitSeconds {
		return nil, fmt.Errorf("runner: wait seconds must be between 1 and %d, got %d", maxWaitSeconds, cfg.WaitSeconds)
	}
	if cfg.Device, err = ParseDevice(cfg.Device); err != nil {
		return nil, fmt.Errorf("runner: device %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Devices == nil {
		cfg.Devices = DefaultDevices
	}
	cfg.Backoff = cfg.Backoff.withDefaults()

	r := &Runner{cfg: cfg, workloads: map[string]workload.Workload{}}
	for _, w := range cfg.Workloads {
		typ := w.Type()
		if _, dup := r.workloads[typ]; dup {
			return nil, fmt.Errorf("runner: two workloads of type %q", typ)
		}
		r.workloads[typ] = w
		r.types = append(r.types, typ)
	}
	if len(r.types) == 0 {
		return nil, errors.New("runner: no workloads: a runner needs at least one workload to lease trials for")
	}
	slices.Sort(r.types)
	r.devices = withPeakFLOPS(cfg.Devices(), cfg.Workloads)
	r.log = cfg.Logger.With("runner", cfg.ID)
	r.failures = newQuickFailures(cfg.FailureBackoff, r.log)
	r.client, err = client.New(server,
		client.WithHTTPClient(cfg.HTTPClient),
		client.WithToken(cfg.Token),
		client.WithUserAgent("tune-runner/"+cfg.ID))
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return r, nil
}

// ID is the runner's id, as given or defaulted.
func (r *Runner) ID() string { return r.cfg.ID }

// Device is the device trials run on, normalized ("cpu" or "cuda:N").
func (r *Runner) Device() string { return r.cfg.Device }

// Workloads lists the workload types the runner leases trials for.
func (r *Runner) Workloads() []string { return slices.Clone(r.types) }

// Devices lists the devices the runner advertises.
func (r *Runner) Devices() []openapi.Device { return slices.Clone(r.devices) }

// Run leases and runs trials in Parallel slots until ctx is cancelled. It
// then takes no new work, cancels the running trials, tells them failed
// (unless AbandonOnShutdown) and returns nil. An unreachable service is
// not an error: Run retries with backoff for as long as it runs.
func (r *Runner) Run(ctx context.Context) error {
	r.log.Info("runner started", "server", r.client.String(), "workloads", r.types,
		"device", r.cfg.Device, "parallel", r.cfg.Parallel)
	var wg sync.WaitGroup
	for slot := range r.cfg.Parallel {
		wg.Go(func() { r.slot(ctx, slot) })
	}
	wg.Wait()
	r.log.Info("runner stopped")
	return nil
}

// slot is one lease-run-tell loop.
func (r *Runner) slot(ctx context.Context, slot int) {
	retry := r.cfg.Backoff.retrier()
	for ctx.Err() == nil {
		g, err := r.acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.outage.down(r.log, err)
			sleep(ctx, retry.next())
			continue
		}
		r.outage.up(r.log)
		retry.reset()
		if g == nil {
			if r.cfg.ExitWhenIdle {
				r.log.Info("no work left; slot done", "slot", slot)
				return
			}
			continue
		}
		start := time.Now()
		state, kind := r.runTrial(ctx, g, slot)
		if ctx.Err() == nil {
			// A trial that ran out of memory or diverged at once says
			// something about its params, not that the study is broken:
			// it does not count towards pausing the study.
			r.failures.record(g.Study.Id, g.Study.Name, state == "failed" && !kind.Infeasible(), time.Since(start))
		}
	}
}

// acquire long-polls for one grant; nil when none came within the wait.
func (r *Runner) acquire(ctx context.Context) (*openapi.LeaseGrant, error) {
	// The service answers 204 after WaitSeconds; give it ample time
	// beyond that before calling the connection dead.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.cfg.WaitSeconds)*time.Second+callTimeout)
	defer cancel()
	body := openapi.LeaseRequest{
		Runner: openapi.RunnerInfo{
			Id:        r.cfg.ID,
			Host:      &r.cfg.Host,
			Devices:   &r.devices,
			Workloads: r.types,
		},
		WaitSeconds: &r.cfg.WaitSeconds,
	}
	if ex := r.failures.excluded(); len(ex) > 0 {
		body.ExcludeStudies = &ex
	}
	rsp, err := r.client.API.AcquireLeaseWithResponse(ctx, body)
	if err := r.check("lease", rsp, err); err != nil {
		return nil, err
	}
	if rsp.StatusCode() == http.StatusNoContent {
		return nil, nil
	}
	if rsp.JSON200 == nil {
		return nil, fmt.Errorf("lease: the server answered %s without a grant", rsp.Status())
	}
	return rsp.JSON200, nil
}

// outage makes a service outage one warning and one recovery line,
// whichever slot or trial runs into it, instead of a line per attempt.
type outage struct {
	mu       sync.Mutex
	since    time.Time
	failures int
}

func (o *outage) down(log *slog.Logger, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	if o.since.IsZero() {
		o.since = time.Now()
		log.Warn("tune server unreachable or failing; retrying with backoff", "err", err)
	}
}

func (o *outage) up(log *slog.Logger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	log.Info("tune server reachable again", "after", time.Since(o.since).Round(time.Millisecond), "failed_calls", o.failures)
	o.since, o.failures = time.Time{}, 0
}

// check turns a generated call's outcome into an error for anything but a
// 2xx answer (see client.Client.Check).
func (r *Runner) check(op string, rsp client.Response, err error) error {
	return r.client.Check(client.Op{Name: op}, rsp, err)
}

// leaseGone reports whether the service said the lease is no longer ours:
// 409 (it expired and was handed on, or the trial finished) or 404 (the
// study was deleted).
func leaseGone(err error) bool {
	return client.IsConflict(err) || client.IsNotFound(err)
}

// retry calls f until it succeeds, fails for good (a 4xx), ctx is done, or
// the time from deadline() has passed; a retry is always made before the
// deadline if one fits. Each attempt gets callTimeout.
func (r *Runner) retry(ctx context.Context, deadline func() time.Time, f func(ctx context.Context) error) error {
	rt := r.cfg.Backoff.retrier()
	for {
		actx, cancel := context.WithTimeout(ctx, callTimeout)
		err := f(actx)
		cancel()
		if err == nil {
			r.outage.up(r.log)
			return nil
		}
		if ctx.Err() != nil || !client.Transient(err) {
			return err
		}
		r.outage.down(r.log, err)
		wait := rt.next()
		if dl := deadline(); !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return fmt.Errorf("%w (gave up: the lease expired meanwhile)", err)
			}
			wait = min(wait, left)
		}
		if !sleep(ctx, wait) {
			return err
		}
	}
}
