package sqlite

import (
	"bytes"
	"cmp"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

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
	st                                          trials.Study
	state                                       string
	objective, space, sampler, pruner, workload []byte
}

func (r *studyRow) dest() []any {
	return []any{&r.st.ID, &r.st.Name, &r.objective, &r.space, &r.sampler, &r.pruner, &r.workload,
		&r.st.MaxTrials, &r.st.MaxParallel, &r.st.MaxRetries, &r.st.LeaseSeconds, &r.state, timeDest{&r.st.CreatedAt}}
}

func (r *studyRow) study() (*trials.Study, error) {
	st := r.st
	st.State = trials.StudyState(r.state)
	for _, doc := range []struct {
		name string
		raw  []byte
		dst  any
	}{
		{"objective", r.objective, &st.Objective},
		{"search_space", r.space, &st.SearchSpace},
		{"sampler", r.sampler, &st.Sampler},
		{"pruner", r.pruner, &st.Pruner},
	} {
		if err := json.Unmarshal(doc.raw, doc.dst); err != nil {
			return nil, fmt.Errorf("study %d: decode %s: %w", st.ID, doc.name, err)
		}
	}
	if r.workload != nil {
		st.Workload = new(trials.Workload)
		if err := json.Unmarshal(r.workload, st.Workload); err != nil {
			return nil, fmt.Errorf("study %d: decode workload: %w", st.ID, err)
		}
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
	t                                    trials.Trial
	state                                string
	params, intermediate, metrics, attrs []byte
}

func (r *trialRow) dest() []any {
	return []any{&r.t.ID, &r.t.StudyID, &r.t.Number, &r.state, &r.params, &r.t.Value, &r.intermediate,
		&r.metrics, &r.attrs, &r.t.Attempt, &r.t.Runner, &r.t.Lease, optTimeDest{&r.t.LeaseExpiresAt},
		timeDest{&r.t.CreatedAt}, optTimeDest{&r.t.StartedAt}, optTimeDest{&r.t.FinishedAt}, &r.t.Error,
		timeDest{&r.t.UpdatedAt}, &r.t.Device}
}

// trial decodes the row. Maps and slices are never nil, so that callers
// (and JSON output) see {} and [] rather than null.
func (r *trialRow) trial(space trials.SearchSpace) (*trials.Trial, error) {
	t := r.t
	t.State = trials.TrialState(r.state)
	var err error
	if t.Params, err = decodeParams(r.params, space); err != nil {
		return nil, fmt.Errorf("trial %d: decode params: %w", t.ID, err)
	}
	if t.Intermediate, err = decodeCurve(r.intermediate); err != nil {
		return nil, fmt.Errorf("trial %d: %w", t.ID, err)
	}
	if err := json.Unmarshal(r.metrics, &t.Metrics); err != nil {
		return nil, fmt.Errorf("trial %d: decode metrics: %w", t.ID, err)
	}
	if t.Metrics == nil {
		t.Metrics = map[string]float64{}
	}
	if err := json.Unmarshal(r.attrs, &t.SystemAttrs); err != nil {
		return nil, fmt.Errorf("trial %d: decode system attrs: %w", t.ID, err)
	}
	if t.SystemAttrs == nil {
		t.SystemAttrs = map[string]string{}
	}
	return &t, nil
}

// decodeCurve decodes a stored learning curve, every point with a metrics
// map.
func decodeCurve(raw []byte) ([]trials.Intermediate, error) {
	var curve []trials.Intermediate
	if err := json.Unmarshal(raw, &curve); err != nil {
		return nil, fmt.Errorf("decode intermediate values: %w", err)
	}
	if curve == nil {
		curve = []trials.Intermediate{}
	}
	for i := range curve {
		if curve[i].Metrics == nil {
			curve[i].Metrics = map[string]float64{}
		}
	}
	return curve, nil
}

// sortedCurve returns the points in step order with no nil metrics, the
// shape Report keeps them in.
func sortedCurve(points []trials.Intermediate) []trials.Intermediate {
	out := make([]trials.Intermediate, len(points))
	copy(out, points)
	slices.SortFunc(out, func(a, b trials.Intermediate) int { return cmp.Compare(a.Step, b.Step) })
	for i := range out {
		if out[i].Metrics == nil {
			out[i].Metrics = map[string]float64{}
		}
	}
	return out
}

// decodeSpace decodes a study's search space.
func decodeSpace(raw []byte) (trials.SearchSpace, error) {
	var space trials.SearchSpace
	if err := json.Unmarshal(raw, &space); err != nil {
		return nil, fmt.Errorf("decode search space: %w", err)
	}
	return space, nil
}

// decodeParams decodes stored params into their canonical Go types: int64
// for int params, float64 for float params, the declared choice for
// categorical ones. Numbers are decoded as json.Number first so that large
// integers keep every digit on their way to int64.
func decodeParams(raw []byte, space trials.SearchSpace) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stored map[string]any
	if err := dec.Decode(&stored); err != nil {
		return nil, err
	}
	params := make(map[string]any, len(stored))
	for name, v := range stored {
		if d, ok := space[name]; ok {
			if nv, err := d.Normalize(v); err == nil {
				params[name] = nv
				continue
			}
		}
		// Params are normalized before they are stored, so this is only
		// reached if the data was written some other way: keep the value,
		// in a plain Go type.
		params[name] = plainNumber(v)
	}
	return params, nil
}

// plainNumber turns a json.Number into an int64 or a float64.
func plainNumber(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if !strings.ContainsAny(n.String(), ".eE") {
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	f, _ := n.Float64()
	return f
}

// jsonObject encodes a map as a JSON object, {} when it is nil (a nil map
// would encode as null, which the schema refuses).
func jsonObject[M ~map[K]V, K comparable, V any](m M) (jsonText, error) {
	if m == nil {
		return jsonText(`{}`), nil
	}
	return json.Marshal(m)
}
