package sqlite

import (
	"database/sql/driver"
	"fmt"
	"regexp"
	"time"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// Times are stored as int64 nanoseconds since the Unix epoch, which covers
// the years 1678 to 2262 and sorts and compares as the times do.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

func nanos(t time.Time) int64 { return t.UnixNano() }

// optionalNanos is nil for a nil time, SQL NULL.
func optionalNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

// storableTime refuses a caller's time that nanoseconds cannot hold.
func storableTime(name string, t *time.Time) error {
	if t != nil && (t.Before(minTime) || t.After(maxTime)) {
		return trials.Invalidf("%s %s is out of range (years 1678 to 2262)", name, t.Format(time.RFC3339))
	}
	return nil
}

// timeDest scans stored nanoseconds into a UTC time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	n, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scan time: got %T, want int64 nanoseconds", src)
	}
	*d.t = time.Unix(0, n).UTC()
	return nil
}

// optTimeDest scans stored nanoseconds or NULL into a *time.Time.
type optTimeDest struct{ t **time.Time }

func (d optTimeDest) Scan(src any) error {
	if src == nil {
		*d.t = nil
		return nil
	}
	var t time.Time
	if err := (timeDest{&t}).Scan(src); err != nil {
		return err
	}
	*d.t = &t
	return nil
}

// jsonText is a JSON document as the TEXT the STRICT tables hold: as a
// []byte it would be bound as a BLOB, which a TEXT column refuses.
type jsonText []byte

func (j jsonText) Value() (driver.Value, error) { return string(j), nil }

// studyCols are the columns scanStudy reads, from studies aliased s.
const studyCols = `s.id, s.name, s.objective, s.search_space, s.sampler, s.pruner, s.workload,
	s.max_trials, s.max_parallel, s.max_retries, s.lease_seconds, s.state, s.created_at`

// SQLite's RETURNING names the written table's columns without a
// qualifier; these are studyCols and trialCols so.
var (
	studyReturning = unqualified(studyCols)
	trialReturning = unqualified(trialCols)
)

func unqualified(cols string) string {
	return regexp.MustCompile(`\b[st]\.`).ReplaceAllString(cols, "")
}

// studyRow receives studyCols; the JSON documents are decoded afterwards.
type studyRow struct {
	st    trials.Study
	state string
	docs  record.StudyDocs
}

func (r *studyRow) dest() []any {
	return []any{&r.st.ID, &r.st.Name, &r.docs.Objective, &r.docs.SearchSpace, &r.docs.Sampler, &r.docs.Pruner,
		&r.docs.Workload, &r.st.MaxTrials, &r.st.MaxParallel, &r.st.MaxRetries, &r.st.LeaseSeconds, &r.state,
		timeDest{&r.st.CreatedAt}}
}

func (r *studyRow) study() (*trials.Study, error) {
	st := r.st
	st.State = trials.StudyState(r.state)
	if err := r.docs.Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// trialCols are the columns trialRow reads, from trials aliased t.
const trialCols = `t.id, t.study_id, t.number, t.state, t.params, t.value, t.intermediate, t.metrics,
	t.system_attrs, t.attempt, t.runner, t.lease, t.lease_expires_at, t.created_at, t.started_at,
	t.finished_at, t.error, t.updated_at, t.device`

// trialRow receives trialCols. Its params can only be decoded with the
// study's search space at hand, so decoding is a second step.
type trialRow struct {
	t     trials.Trial
	state string
	docs  record.TrialDocs
}

func (r *trialRow) dest() []any {
	return []any{&r.t.ID, &r.t.StudyID, &r.t.Number, &r.state, &r.docs.Params, &r.t.Value, &r.docs.Intermediate,
		&r.docs.Metrics, &r.docs.SystemAttrs, &r.t.Attempt, &r.t.Runner, &r.t.Lease, optTimeDest{&r.t.LeaseExpiresAt},
		timeDest{&r.t.CreatedAt}, optTimeDest{&r.t.StartedAt}, optTimeDest{&r.t.FinishedAt}, &r.t.Error,
		timeDest{&r.t.UpdatedAt}, &r.t.Device}
}

// trial decodes the row (see record.TrialDocs.Decode).
func (r *trialRow) trial(space trials.SearchSpace) (*trials.Trial, error) {
	t := r.t
	t.State = trials.TrialState(r.state)
	if err := r.docs.Decode(&t, space); err != nil {
		return nil, err
	}
	return &t, nil
}

// jsonObject is record.JSONObject as the TEXT the tables hold.
func jsonObject[M ~map[K]V, K comparable, V any](m M) (jsonText, error) {
	doc, err := record.JSONObject(m)
	return jsonText(doc), err
}
