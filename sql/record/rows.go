package record

import (
	"time"

	"github.com/tune-dev/tune/trials"
)

// Times says how a store's driver scans its time columns: PostgreSQL's
// timestamptz scans into a time.Time as it is, while SQLite's stored
// nanoseconds need a decoding destination.
type Times interface {
	// Time returns the scan destination of a NOT NULL time column.
	Time(*time.Time) any
	// OptionalTime returns that of a nullable one (NULL scans as nil).
	OptionalTime(**time.Time) any
}

// Rows are the query results the Scan functions read: *sql.Rows and
// pgx.Rows alike.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// StudyCols are the columns StudyRow receives, from studies aliased s.
const StudyCols = `s.id, s.name, s.objective, s.search_space, s.sampler, s.pruner, s.workload,
	s.max_trials, s.max_parallel, s.max_retries, s.lease_seconds, s.state, s.created_at, s.created_by,
	s.objectives, s.constraints`

// StudyRow receives StudyCols; the JSON documents are decoded afterwards.
type StudyRow struct {
	st    trials.Study
	state string
	docs  StudyDocs
}

// Dest returns the scan destinations of StudyCols, in order.
func (r *StudyRow) Dest(tm Times) []any {
	return []any{&r.st.ID, &r.st.Name, &r.docs.Objective, &r.docs.SearchSpace, &r.docs.Sampler, &r.docs.Pruner,
		&r.docs.Workload, &r.st.MaxTrials, &r.st.MaxParallel, &r.st.MaxRetries, &r.st.LeaseSeconds, &r.state,
		tm.Time(&r.st.CreatedAt), &r.st.CreatedBy, &r.docs.Objectives, &r.docs.Constraints}
}

// Study decodes the scanned row.
func (r *StudyRow) Study() (*trials.Study, error) {
	st := r.st
	st.State = trials.StudyState(r.state)
	if err := r.docs.Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ScanStudies reads every row of a query that selects StudyCols.
func ScanStudies(rows Rows, tm Times) ([]trials.Study, error) {
	return scanAll(rows, tm, (*StudyRow).Dest, (*StudyRow).Study)
}

// SummaryRow receives StudyCols followed by the study's trial counts in
// state order (waiting, running, complete, pruned, failed), the number of
// distinct runners holding its running trials, and the id and value of
// its best complete trial (NULL while none).
type SummaryRow struct {
	study                                      StudyRow
	waiting, running, complete, pruned, failed int
	sum                                        trials.StudySummary
}

// Dest returns the scan destinations of the row's columns, in order.
func (r *SummaryRow) Dest(tm Times) []any {
	return append(r.study.Dest(tm), &r.waiting, &r.running, &r.complete, &r.pruned, &r.failed,
		&r.sum.RunningRunners, &r.sum.BestTrialID, &r.sum.BestValue)
}

// Summary decodes the scanned row; Counts has every state, zero included.
func (r *SummaryRow) Summary() (*trials.StudySummary, error) {
	st, err := r.study.Study()
	if err != nil {
		return nil, err
	}
	sum := r.sum
	sum.Study = *st
	sum.Counts = map[trials.TrialState]int{
		trials.TrialWaiting:  r.waiting,
		trials.TrialRunning:  r.running,
		trials.TrialComplete: r.complete,
		trials.TrialPruned:   r.pruned,
		trials.TrialFailed:   r.failed,
	}
	return &sum, nil
}

// ScanSummaries reads every row of a query whose rows SummaryRow receives.
func ScanSummaries(rows Rows, tm Times) ([]trials.StudySummary, error) {
	return scanAll(rows, tm, (*SummaryRow).Dest, (*SummaryRow).Summary)
}

// TrialCols are the columns TrialRow receives, from trials aliased t.
const TrialCols = `t.id, t.study_id, t.number, t.state, t.params, t.value, t.intermediate, t.metrics,
	t.system_attrs, t.attempt, t.runner, t.lease, t.lease_expires_at, t.created_at, t.started_at,
	t.finished_at, t.error, t.updated_at, t.device, t.created_by, t.finished_by, t.held_by, t.origin, t.failure_kind`

// TrialRow receives TrialCols. Its params can only be decoded with the
// study's search space at hand, so decoding is a second step.
type TrialRow struct {
	t     trials.Trial
	state string
	docs  TrialDocs
}

// Dest returns the scan destinations of TrialCols, in order.
func (r *TrialRow) Dest(tm Times) []any {
	return []any{&r.t.ID, &r.t.StudyID, &r.t.Number, &r.state, &r.docs.Params, &r.t.Value, &r.docs.Intermediate,
		&r.docs.Metrics, &r.docs.SystemAttrs, &r.t.Attempt, &r.t.Runner, &r.t.Lease, tm.OptionalTime(&r.t.LeaseExpiresAt),
		tm.Time(&r.t.CreatedAt), tm.OptionalTime(&r.t.StartedAt), tm.OptionalTime(&r.t.FinishedAt), &r.t.Error,
		tm.Time(&r.t.UpdatedAt), &r.t.Device, &r.t.CreatedBy, &r.t.FinishedBy, &r.t.HeldBy, &r.t.Origin, &r.t.FailureKind}
}

// Trial decodes the scanned row with its study's search space (see
// TrialDocs.Decode).
func (r *TrialRow) Trial(space trials.SearchSpace) (*trials.Trial, error) {
	t := r.t
	t.State = trials.TrialState(r.state)
	if err := r.docs.Decode(&t, space); err != nil {
		return nil, err
	}
	return &t, nil
}

// TrialWithSpace decodes the scanned row with its study's search space as
// stored.
func (r *TrialRow) TrialWithSpace(rawSpace []byte) (*trials.Trial, error) {
	space, err := DecodeSpace(rawSpace)
	if err != nil {
		return nil, err
	}
	return r.Trial(space)
}

// ScanTrials reads every row of a query that selects TrialCols, decoding
// the params with the study's search space.
func ScanTrials(rows Rows, tm Times, space trials.SearchSpace) ([]trials.Trial, error) {
	decode := func(r *TrialRow) (*trials.Trial, error) { return r.Trial(space) }
	return scanAll(rows, tm, (*TrialRow).Dest, decode)
}

// scanAll scans every row into a fresh R and decodes it; the result is
// never nil, so that JSON shows [] rather than null.
func scanAll[R, T any](rows Rows, tm Times, dest func(*R, Times) []any, decode func(*R) (*T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		var r R
		if err := rows.Scan(dest(&r, tm)...); err != nil {
			return nil, err
		}
		v, err := decode(&r)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// Page is the answer of Store.ListTrials or ListStudies from the rows of its query, which
// fetched one row more than size to learn whether more follow, and the
// query's error, which passes through.
func Page[T any](rows []T, size int, err error) (page []T, more bool, _ error) {
	switch {
	case err != nil:
		return nil, false, err
	case len(rows) > size:
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// Best is the answer of Store.BestTrial from the rows of a query for the
// study's best complete trial: the first, ErrNotFound when there is none.
func Best(studyID int64, rows []trials.Trial) (*trials.Trial, error) {
	if len(rows) == 0 {
		return nil, trials.NoCompleteTrial(studyID)
	}
	return &rows[0], nil
}
