package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// Study returns a valid study over the product's knobs.
func Study(name string) trials.Study {
	step := 16.0
	return trials.Study{
		Name:      name,
		Objective: trials.Objective{Metric: "val_loss", Direction: trials.Minimize},
		SearchSpace: trials.SearchSpace{
			"batch_size":    {Type: trials.Int, Low: 16, High: 256, Step: &step},
			"learning_rate": {Type: trials.Float, Low: 1e-5, High: 1e-1, Log: true},
			"activation":    {Type: trials.Categorical, Choices: []any{"relu", "tanh"}},
			"workers":       {Type: trials.Categorical, Choices: []any{1.0, 2.0, 4.0}},
		},
		Workload: &trials.Workload{Type: "mnist", Options: map[string]any{"epochs": 3.0}},
	}.WithDefaults()
}

// Params returns params of Study's space, in canonical types.
func Params(batch int64) map[string]any {
	return map[string]any{"batch_size": batch, "learning_rate": 0.001, "activation": "relu", "workers": 2.0}
}

// CreateStudy stores Study(name), changed by edit when it is not nil, or
// fails the test.
func CreateStudy(t *testing.T, s trials.Store, name string, edit func(*trials.Study)) *trials.Study {
	t.Helper()
	st := Study(name)
	if edit != nil {
		edit(&st)
	}
	got, err := s.CreateStudy(context.Background(), st)
	if err != nil {
		t.Fatalf("CreateStudy(%q): %v", name, err)
	}
	return got
}

// CreateRunning adds a running trial or fails the test.
func CreateRunning(t *testing.T, s trials.Store, studyID int64, batch int64, runner string) *trials.Trial {
	t.Helper()
	tr, err := s.CreateRunning(context.Background(), studyID, Params(batch), nil, trials.OriginRandom, runner, false)
	if err != nil {
		t.Fatalf("CreateRunning(%d): %v", studyID, err)
	}
	return tr
}

// The suite's own short names for the helpers above.
var (
	createStudy   = CreateStudy
	createRunning = CreateRunning
)

// tell finishes a trial or fails the test.
func tell(t *testing.T, s trials.Store, tr *trials.Trial, state trials.TrialState, value float64) *trials.Trial {
	t.Helper()
	out, err := s.Tell(context.Background(), tr.ID, &tr.Lease, trials.Outcome{State: state, Value: &value})
	if err != nil {
		t.Fatalf("Tell(%d, %s): %v", tr.ID, state, err)
	}
	return out
}

// wantErr fails the test unless err is of kind want and its text contains
// every fragment.
func wantErr(t *testing.T, err error, want *trials.Error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", want.Kind)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %q (kind %v), want kind %v", err, trials.KindOf(err), want.Kind)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// near reports whether a and b are within d of each other.
func near(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	return diff < d && diff > -d
}

// listStudies returns the first page of studies, an error when more
// follow: the tests that use it have fewer studies than a page.
func listStudies(s trials.Store) ([]trials.StudySummary, error) {
	sums, more, err := s.ListStudies(context.Background(), trials.StudyFilter{})
	if err == nil && more {
		err = errors.New("ListStudies says more follow a first page that holds them all")
	}
	return sums, err
}
