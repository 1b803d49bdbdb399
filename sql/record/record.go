// Package record owns the JSON documents both stores (sql/postgres and
// sql/sqlite) keep studies and trials in: how a study's objective, search
// space, sampler, pruner and workload, and a trial's params, learning curve,
// metrics and system attrs are written as JSON in their columns, and how
// they are read back into canonical Go types; and the rows both stores
// read: the study, trial and summary columns they select and how a row is
// scanned and decoded (rows.go). Each store keeps its SQL, its locking and
// how its driver scans a time (Times).
package record

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tune-dev/tune/trials"
)

// StudyDocs are the JSON documents of a study row. Workload is nil for a
// study without one, which the row stores as SQL NULL. Objectives and
// Constraints are arrays, [] when the study has none.
type StudyDocs struct {
	Objective, SearchSpace, Sampler, Pruner, Workload []byte
	Objectives, Constraints                           []byte
}

// EncodeStudy returns the documents a study is stored as.
func EncodeStudy(st trials.Study) (StudyDocs, error) {
	var d StudyDocs
	for _, doc := range []struct {
		name string
		v    any
		dst  *[]byte
	}{
		{"objective", st.Objective, &d.Objective},
		{"search_space", st.SearchSpace, &d.SearchSpace},
		{"sampler", st.Sampler, &d.Sampler},
		{"pruner", st.Pruner, &d.Pruner},
		{"objectives", jsonArray(st.Objectives), &d.Objectives},
		{"constraints", jsonArray(st.Constraints), &d.Constraints},
	} {
		raw, err := json.Marshal(doc.v)
		if err != nil {
			return StudyDocs{}, fmt.Errorf("encode %s: %w", doc.name, err)
		}
		*doc.dst = raw
	}
	// A study without a workload stores SQL NULL, not JSON null.
	if st.Workload != nil {
		raw, err := json.Marshal(st.Workload)
		if err != nil {
			return StudyDocs{}, fmt.Errorf("encode workload: %w", err)
		}
		d.Workload = raw
	}
	return d, nil
}

// Decode fills st's objective, search space, sampler, pruner and workload
// from the stored documents; st.ID names the study in errors.
func (d StudyDocs) Decode(st *trials.Study) error {
	for _, doc := range []struct {
		name string
		raw  []byte
		dst  any
	}{
		{"objective", d.Objective, &st.Objective},
		{"search_space", d.SearchSpace, &st.SearchSpace},
		{"sampler", d.Sampler, &st.Sampler},
		{"pruner", d.Pruner, &st.Pruner},
		{"objectives", d.Objectives, &st.Objectives},
		{"constraints", d.Constraints, &st.Constraints},
	} {
		if err := json.Unmarshal(doc.raw, doc.dst); err != nil {
			return fmt.Errorf("study %d: decode %s: %w", st.ID, doc.name, err)
		}
	}
	// Studies without them read as they were created: nil, not [].
	if len(st.Objectives) == 0 {
		st.Objectives = nil
	}
	if len(st.Constraints) == 0 {
		st.Constraints = nil
	}
	st.Workload = nil
	if d.Workload != nil {
		st.Workload = new(trials.Workload)
		if err := json.Unmarshal(d.Workload, st.Workload); err != nil {
			return fmt.Errorf("study %d: decode workload: %w", st.ID, err)
		}
	}
	return nil
}

// TrialDocs are the JSON documents of a trial row.
type TrialDocs struct {
	Params, Intermediate, Metrics, SystemAttrs []byte
}

// EncodeFinished returns the documents of a finished trial recorded as it
// is (Store.AddTrial): its params, sorted learning curve and metrics. It
// refuses a trial that is not finished or whose outcome a tell would
// refuse (trials.Trial.ValidateFinished).
func EncodeFinished(t trials.Trial) (TrialDocs, error) {
	if err := t.ValidateFinished(); err != nil {
		return TrialDocs{}, err
	}
	var d TrialDocs
	var err error
	if d.Params, err = JSONObject(t.Params); err != nil {
		return TrialDocs{}, fmt.Errorf("encode params: %w", err)
	}
	if d.Metrics, err = JSONObject(t.Metrics); err != nil {
		return TrialDocs{}, fmt.Errorf("encode metrics: %w", err)
	}
	if d.Intermediate, err = json.Marshal(SortedCurve(t.Intermediate)); err != nil {
		return TrialDocs{}, fmt.Errorf("encode intermediate values: %w", err)
	}
	return d, nil
}

// Decode fills t's params (with the study's search space, see
// DecodeParams), learning curve, metrics and system attrs from the stored
// documents; t.ID names the trial in errors. Maps and slices are never nil,
// so that callers (and JSON output) see {} and [] rather than null.
func (d TrialDocs) Decode(t *trials.Trial, space trials.SearchSpace) error {
	var err error
	if t.Params, err = DecodeParams(d.Params, space); err != nil {
		return fmt.Errorf("trial %d: decode params: %w", t.ID, err)
	}
	if t.Intermediate, err = DecodeCurve(d.Intermediate); err != nil {
		return fmt.Errorf("trial %d: %w", t.ID, err)
	}
	t.Metrics = nil
	if err := json.Unmarshal(d.Metrics, &t.Metrics); err != nil {
		return fmt.Errorf("trial %d: decode metrics: %w", t.ID, err)
	}
	if t.Metrics == nil {
		t.Metrics = map[string]float64{}
	}
	t.SystemAttrs = nil
	if err := json.Unmarshal(d.SystemAttrs, &t.SystemAttrs); err != nil {
		return fmt.Errorf("trial %d: decode system attrs: %w", t.ID, err)
	}
	if t.SystemAttrs == nil {
		t.SystemAttrs = map[string]string{}
	}
	return nil
}

// DecodeCurve decodes a stored learning curve, every point with a metrics
// map.
func DecodeCurve(raw []byte) ([]trials.Intermediate, error) {
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

// SortedCurve returns the points in step order with no nil metrics, the
// shape Report keeps them in.
func SortedCurve(points []trials.Intermediate) []trials.Intermediate {
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

// DecodeSpace decodes a study's search space.
func DecodeSpace(raw []byte) (trials.SearchSpace, error) {
	var space trials.SearchSpace
	if err := json.Unmarshal(raw, &space); err != nil {
		return nil, fmt.Errorf("decode search space: %w", err)
	}
	return space, nil
}

// DecodeParams decodes stored params into their declared types through
// the search space (trials.SearchSpace.DecodeStored, the one place that
// decides which number is an int). Numbers are decoded as json.Number first
// so that large integers keep every digit on their way to int64.
func DecodeParams(raw []byte, space trials.SearchSpace) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stored map[string]any
	if err := dec.Decode(&stored); err != nil {
		return nil, err
	}
	return space.DecodeStored(stored), nil
}

// jsonArray is s, or an empty slice (which encodes as [] where nil would
// encode as null, which the schema refuses).
func jsonArray[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// JSONObject encodes a map as a JSON object, {} when it is nil (a nil map
// would encode as null, which the schema refuses).
func JSONObject[M ~map[K]V, K comparable, V any](m M) (json.RawMessage, error) {
	if m == nil {
		return json.RawMessage(`{}`), nil
	}
	return json.Marshal(m)
}
