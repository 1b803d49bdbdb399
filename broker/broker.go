// Package broker runs the trial workflow between a transport (the HTTP
// service, a test, the demo) and the tuner and store: ask, lease (a long
// poll woken by new work), enqueue and record, report with the prune
// decision, heartbeat, tell, and the reaper of expired leases. It is the one
// place that keeps the tuner's cache told of every write it makes and wakes
// waiting runners, so no caller has to remember either. Errors are the
// trials package's kinds, for the transport to map.
package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tune-dev/tune/runner/catalog"
	"github.com/tune-dev/tune/trials"
	"github.com/tune-dev/tune/tuner"
)

// Tuner proposes params and decides pruning; tuner.Tuner implements it.
type Tuner interface {
	Suggest(ctx context.Context, s *trials.Study) (tuner.Proposal, error)
	// Bind tells the tuner which stored trial a proposal became; Release
	// that none did.
	Bind(h tuner.Handle, t *trials.Trial)
	Release(h tuner.Handle)
	ShouldPrune(ctx context.Context, s *trials.Study, t *trials.Trial) (bool, map[string]string, error)
	Observe(t *trials.Trial)
	Forget(studyID int64)
}

// Metrics hears what the broker handed out, finished and reclaimed, so that
// a transport can count it (the service's Prometheus counters).
type Metrics interface {
	Asked()
	Leased()
	Told(state trials.TrialState)
	Reaped(requeued, failed int)
	Suggested(d time.Duration)
}

// Config wires a Broker.
type Config struct {
	Store trials.Store
	Tuner Tuner
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics may be nil.
	Metrics Metrics
	// ReapInterval is how often expired leases are reclaimed (default 1 s);
	// negative disables the reaper.
	ReapInterval time.Duration
	// MaxLeaseWait caps a runner's long poll (default 60 s).
	MaxLeaseWait time.Duration
	// LeasePoll is how often a waiting lease request looks for work that
	// other replicas made available (default 1 s); work made available
	// through this Broker wakes it at once.
	LeasePoll time.Duration
	// Workloads declare what each workload type accepts as params and
	// options; a study one of them would refuse at run time is refused at
	// creation. Default: the built-in workloads (runner/catalog).
	Workloads trials.Workloads
}

// Broker runs the trial workflow. Close it to stop its reaper.
type Broker struct {
	cfg     Config
	store   trials.Store
	tuner   Tuner
	log     *slog.Logger
	metrics Metrics
	studies studyCache
	wake    *signal

	stop chan struct{}
	done sync.WaitGroup
}

// New builds a Broker and starts its reaper.
func New(cfg Config) (*Broker, error) {
	if cfg.Store == nil || cfg.Tuner == nil {
		return nil, errors.New("broker: Store and Tuner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = time.Second
	}
	if cfg.MaxLeaseWait <= 0 {
		cfg.MaxLeaseWait = 60 * time.Second
	}
	if cfg.LeasePoll <= 0 {
		cfg.LeasePoll = time.Second
	}
	if cfg.Workloads == nil {
		cfg.Workloads = catalog.Builtin()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	b := &Broker{
		cfg:     cfg,
		store:   cfg.Store,
		tuner:   cfg.Tuner,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		studies: studyCache{store: cfg.Store},
		wake:    newSignal(),
		stop:    make(chan struct{}),
	}
	if cfg.ReapInterval > 0 {
		b.done.Add(1)
		go b.reapLoop()
	}
	return b, nil
}

// Close stops the reaper. It does not close the store.
func (b *Broker) Close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.done.Wait()
}

type noMetrics struct{}

func (noMetrics) Asked()                    {}
func (noMetrics) Leased()                   {}
func (noMetrics) Told(trials.TrialState)    {}
func (noMetrics) Reaped(int, int)           {}
func (noMetrics) Suggested(_ time.Duration) {}

// Study finds a study by numeric id or by name, as the store has it now.
func (b *Broker) Study(ctx context.Context, ref string) (*trials.Study, error) {
	return b.studies.resolve(ctx, ref)
}

// StudyByID finds a study's configuration by id. Its State may be stale
// (the configuration is not): use Study for the current state.
func (b *Broker) StudyByID(ctx context.Context, id int64) (*trials.Study, error) {
	return b.studies.get(ctx, id)
}

// CreateStudy validates a study (with its defaults applied) and stores it.
func (b *Broker) CreateStudy(ctx context.Context, s trials.Study) (*trials.Study, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := s.ValidateWorkload(b.cfg.Workloads); err != nil {
		return nil, err
	}
	created, err := b.store.CreateStudy(ctx, s)
	if err != nil {
		return nil, err
	}
	b.log.Info("study created", "study", created.Name, "id", created.ID)
	// A new study is work for runners waiting on its workload.
	b.wake.broadcast()
	return created, nil
}

// SetStudyState pauses, resumes or stops s.
func (b *Broker) SetStudyState(ctx context.Context, s *trials.Study, state trials.StudyState) error {
	if _, err := b.store.SetStudyState(ctx, s.ID, state); err != nil {
		return err
	}
	b.log.Info("study state changed", "study", s.Name, "from", s.State, "to", state)
	if state == trials.StudyRunning {
		b.wake.broadcast()
	}
	return nil
}

// DeleteStudy removes s with its trials and forgets what was cached of it.
func (b *Broker) DeleteStudy(ctx context.Context, s *trials.Study) error {
	if err := b.store.DeleteStudy(ctx, s.ID); err != nil {
		return err
	}
	b.studies.forget(s.ID)
	b.tuner.Forget(s.ID)
	b.log.Info("study deleted", "study", s.Name, "id", s.ID)
	return nil
}

// reapLoop requeues or fails trials whose lease expired. Every replica runs
// one; the store makes that safe.
func (b *Broker) reapLoop() {
	defer b.done.Done()
	t := time.NewTicker(b.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := b.Reap(ctx)
		cancel()
		if err != nil {
			b.log.Error("reaping expired leases", "err", err)
		}
	}
}

// Reap requeues or fails the trials whose lease expired, once.
func (b *Broker) Reap(ctx context.Context) (requeued, failed int, err error) {
	requeued, failed, err = b.store.ReapExpired(ctx)
	if err != nil {
		return 0, 0, err
	}
	if requeued+failed > 0 {
		b.log.Info("reaped expired leases", "requeued", requeued, "failed", failed)
		b.metrics.Reaped(requeued, failed)
		// Requeued trials are work for waiting runners; failed ones free
		// parallel slots.
		b.wake.broadcast()
	}
	return requeued, failed, nil
}
