package trials

import (
	"context"
	"time"
)

// TrialFilter selects a page of a study's trials, ordered by number.
type TrialFilter struct {
	// State, when set, keeps only trials in that state.
	State TrialState
	// AfterNumber, when >= 0, starts the page after that trial number.
	AfterNumber int
	// Limit is the page size; the store caps it (see PageSize).
	Limit int
}

// StudyFilter selects a page of studies, ordered by id (creation order).
type StudyFilter struct {
	// AfterID starts the page after the study with that id; 0 starts at
	// the first.
	AfterID int64
	// Limit is the page size; the store caps it (see PageSize).
	Limit int
}

// PageSize is how many studies a page of f holds, as TrialFilter.PageSize.
func (f StudyFilter) PageSize() int { return pageSize(f.Limit) }

// Page sizes of Store.ListTrials and Store.ListStudies.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize is how many trials a page of f holds: Limit, or DefaultPageSize
// when Limit is 0 or less, and never more than MaxPageSize.
func (f TrialFilter) PageSize() int { return pageSize(f.Limit) }

func pageSize(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// Validate refuses a filter on an unknown state. The error is KindInvalid.
func (f TrialFilter) Validate() error {
	if f.State != "" && !f.State.Valid() {
		return Invalidf("unknown trial state %q: use waiting, running, complete, pruned or failed", f.State)
	}
	return nil
}

// Store keeps studies and trials. Every method returns errors of this
// package's kinds: ErrNotFound for unknown ids, ErrConflict when the current
// state forbids the change, ErrInvalid for arguments it cannot honour; any
// other error is internal. Lease expiry is computed from the store's clock
// (the database's), never a caller's. Writes that create a study or trial
// record Actor(ctx) as its CreatedBy, and those that finish a trial as its
// FinishedBy (ReaperExpired: ReaperActor); claiming a waiting trial keeps
// the CreatedBy of whoever enqueued it.
type Store interface {
	// CreateStudy stores a validated study and returns it with its id,
	// state and creation time. A duplicate name is ErrConflict.
	CreateStudy(ctx context.Context, s Study) (*Study, error)
	// GetStudy finds a study by id.
	GetStudy(ctx context.Context, id int64) (*Study, error)
	// GetStudyByName finds a study by its unique name.
	GetStudyByName(ctx context.Context, name string) (*Study, error)
	// ListStudies returns a page of studies with their counts and best
	// value, oldest first, and whether more follow.
	ListStudies(ctx context.Context, f StudyFilter) ([]StudySummary, bool, error)
	// SummarizeStudy returns one study with its counts and best value.
	SummarizeStudy(ctx context.Context, id int64) (*StudySummary, error)
	// SetStudyState pauses, resumes or stops a study.
	SetStudyState(ctx context.Context, id int64, state StudyState) (*Study, error)
	// DeleteStudy removes a study and all its trials.
	DeleteStudy(ctx context.Context, id int64) error

	// EnqueueTrial adds a waiting trial with fixed, normalized params, its
	// origin OriginEnqueued. It is ErrConflict when the study is done or already has MaxTrials trials.
	EnqueueTrial(ctx context.Context, studyID int64, params map[string]any) (*Trial, error)
	// ClaimWaiting grants the oldest waiting trial of the study to runner
	// (use "" for a plain ask), making it running with a fresh lease. It
	// returns (nil, nil) when no trial waits. With limitParallel it claims
	// nothing while the study has MaxParallel running trials. ErrConflict
	// when the study is not running.
	ClaimWaiting(ctx context.Context, studyID int64, runner string, limitParallel bool) (*Trial, error)
	// CreateRunning adds a running trial with the given normalized params,
	// system attrs (the sampler's bookkeeping; nil for none) and origin
	// (what proposed the params), the next number and a fresh lease, all in
	// one write: no reader ever sees the trial without its attrs. ErrConflict when the study is not running,
	// has MaxTrials trials, or (with limitParallel) has MaxParallel running
	// trials.
	CreateRunning(ctx context.Context, studyID int64, params map[string]any, attrs map[string]string, origin Origin, runner string, limitParallel bool) (*Trial, error)
	// AddTrial adds a finished trial (complete, pruned or failed) with the
	// study's next number, keeping what t says of it: normalized params,
	// value, learning curve, metrics, error, runner, device, attempt, origin
	// (OriginRecorded when empty) and times (CreatedAt and FinishedAt
	// default to the store's clock). It
	// records results obtained elsewhere: an exported study imported again,
	// runs made before the study existed. ErrInvalid for an unfinished state
	// or an outcome that Tell would refuse; ErrConflict when the study is
	// done or already has MaxTrials trials. When the study then has
	// MaxTrials trials and all are finished, it becomes done.
	AddTrial(ctx context.Context, studyID int64, t Trial) (*Trial, error)
	// LeasableStudies returns running studies whose workload type is one of
	// workloads and that could hand out a trial now (a waiting trial, or
	// room under MaxTrials; and room under MaxParallel), fairest first: the
	// study with the fewest running trials, then the oldest.
	LeasableStudies(ctx context.Context, workloads []string) ([]Study, error)

	// GetTrial finds a trial by id.
	GetTrial(ctx context.Context, id int64) (*Trial, error)
	// ListTrials returns a page of a study's trials and whether more follow.
	ListTrials(ctx context.Context, studyID int64, f TrialFilter) ([]Trial, bool, error)
	// BestTrial returns the study's best complete trial, ErrNotFound while
	// none has completed.
	BestTrial(ctx context.Context, studyID int64) (*Trial, error)
	// TrialsChangedSince returns, ordered by number, every trial of the
	// study that may have changed since the cursor (cursor 0 returns all),
	// and the cursor to pass next time. Cursors are opaque: only 0 and
	// cursors a previous call returned mean anything. No change is ever
	// missed, however late the transaction that made it commits; a trial
	// can be returned again although it did not change since. ErrNotFound
	// for an unknown study.
	TrialsChangedSince(ctx context.Context, studyID int64, cursor int64) ([]Trial, int64, error)

	// Heartbeat extends a running trial's lease by the study's lease length
	// and reports whether the study asks its trials to stop (it is done).
	// A nil lease skips the token check. ErrConflict when the trial is not
	// running or the lease is not the current one.
	Heartbeat(ctx context.Context, trialID int64, lease *int64) (expires time.Time, stop bool, err error)
	// Report records the value (and metrics) at a step of a running trial,
	// replacing an earlier report of that step. Token rules as Heartbeat.
	Report(ctx context.Context, trialID int64, lease *int64, point Intermediate) (*Trial, error)
	// SetSystemAttrs merges bookkeeping into a running trial.
	SetSystemAttrs(ctx context.Context, trialID int64, attrs map[string]string) error
	// Tell finishes a running trial. Telling a finished trial the same
	// outcome again returns it unchanged; a different one is ErrConflict.
	// Token rules as Heartbeat. When the study has MaxTrials trials and all
	// are finished, the study becomes done.
	Tell(ctx context.Context, trialID int64, lease *int64, o Outcome) (*Trial, error)
	// ReapExpired sends running trials whose lease expired back to waiting
	// (attempt+1, same params) while retries are left, and fails the rest.
	// It is safe to run in several processes at once.
	ReapExpired(ctx context.Context) (requeued, failed int, err error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
}
