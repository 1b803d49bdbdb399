package trials

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func lease(n int64) *int64 { return &n }

func TestLeaseConflict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trial     Trial
		presented *int64
		want      string // "" for no refusal
	}{
		{"held with token", Trial{ID: 1, State: TrialRunning, Lease: 2}, lease(2), ""},
		{"held without token", Trial{ID: 1, State: TrialRunning, Lease: 2}, nil, ""},
		{"taken over", Trial{ID: 1, State: TrialRunning, Lease: 3}, lease(2), "no longer yours"},
		{"requeued", Trial{ID: 1, State: TrialWaiting, Lease: 2}, lease(2), "waits to be retried"},
		{"never handed out", Trial{ID: 1, State: TrialWaiting}, nil, "has not been handed out"},
		{"failed", Trial{ID: 1, State: TrialFailed, Error: "oom"}, nil, "already finished as failed (oom)"},
		{"complete", Trial{ID: 1, State: TrialComplete}, lease(1), "already finished as complete"},
	} {
		err := LeaseConflict(&tc.trial, tc.presented)
		if holds := tc.trial.Holds(tc.presented); holds != (err == nil) {
			t.Errorf("%s: Holds = %v but LeaseConflict = %v", tc.name, holds, err)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: got %v, want no refusal", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want a conflict containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRetellConflict(t *testing.T) {
	done := Trial{ID: 7, State: TrialComplete, Value: f(0.25), Lease: 2, Metrics: map[string]float64{"loss": 1}}
	same := Outcome{State: TrialComplete, Value: f(0.25), Metrics: map[string]float64{"loss": 1}}
	if err := done.RetellConflict(lease(2), same); err != nil {
		t.Errorf("same outcome told again: %v", err)
	}
	if err := done.RetellConflict(nil, same); err != nil {
		t.Errorf("same outcome told again without a token: %v", err)
	}
	err := done.RetellConflict(lease(1), same)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "under lease 2; you presented lease 1") {
		t.Errorf("stale token: %v", err)
	}
	other := same
	other.Value = f(0.5)
	err = done.RetellConflict(lease(2), other)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "as complete (value 0.25); a different outcome") {
		t.Errorf("different outcome: %v", err)
	}
}

func TestDescribeOutcome(t *testing.T) {
	for _, tc := range []struct {
		trial Trial
		want  string
	}{
		{Trial{State: TrialPruned}, "pruned"},
		{Trial{State: TrialComplete, Value: f(1.5)}, "complete (value 1.5)"},
		{Trial{State: TrialFailed, Error: "boom"}, `failed (error "boom")`},
		{Trial{State: TrialFailed, Value: f(2), Error: "boom"}, `failed (value 2, error "boom")`},
	} {
		if got := tc.trial.DescribeOutcome(); got != tc.want {
			t.Errorf("DescribeOutcome(%+v) = %q, want %q", tc.trial, got, tc.want)
		}
	}
}

func TestOutcomeValidate(t *testing.T) {
	for _, bad := range []Outcome{
		{State: TrialRunning},
		{State: TrialComplete},
		{State: TrialPruned, Value: f(math.Inf(1))},
		{State: TrialFailed, Metrics: map[string]float64{"x": math.Inf(1)}},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", bad, err)
		}
	}
	if err := (Outcome{State: TrialComplete, Value: f(1)}).Validate(); err != nil {
		t.Errorf("a complete outcome with a value: %v", err)
	}
}

func TestExpiredLeaseError(t *testing.T) {
	if got, want := ExpiredLeaseError(1, ""), "lease expired after 1 attempt; its ask/tell client stopped heartbeating"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := ExpiredLeaseError(3, "r1"), "lease expired after 3 attempts; runner r1 stopped heartbeating"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRefusedWrite: every store answers a refused write with a conflict,
// the case where the trial holds as read after the write included (a
// store whose write and read see different snapshots). sql/sqlite used to
// answer that case with an internal error (a 500), sql/postgres with a 409.
func TestRefusedWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trial     Trial
		presented *int64
		want      string
	}{
		{"held with token", Trial{ID: 1, State: TrialRunning, Lease: 2}, lease(2), "changed while it was being updated (it is running under lease 2); try again"},
		{"held without token", Trial{ID: 1, State: TrialRunning, Lease: 2}, nil, "changed while it was being updated"},
		{"taken over", Trial{ID: 1, State: TrialRunning, Lease: 3}, lease(2), "no longer yours"},
		{"never handed out", Trial{ID: 1, State: TrialWaiting}, nil, "has not been handed out"},
		{"complete", Trial{ID: 1, State: TrialComplete}, lease(1), "already finished as complete"},
	} {
		err := RefusedWrite(&tc.trial, tc.presented)
		if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v (kind %v), want a conflict containing %q", tc.name, err, KindOf(err), tc.want)
		}
	}
}

func TestRefusedTell(t *testing.T) {
	done := Trial{ID: 7, State: TrialComplete, Value: f(0.25), Lease: 2}
	same := Outcome{State: TrialComplete, Value: f(0.25)}
	if err := done.RefusedTell(lease(2), same); err != nil {
		t.Errorf("same outcome told again: %v", err)
	}
	other := Outcome{State: TrialPruned}
	if err := done.RefusedTell(lease(2), other); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "a different outcome") {
		t.Errorf("different outcome: %v", err)
	}
	requeued := Trial{ID: 7, State: TrialWaiting, Lease: 2}
	if err := requeued.RefusedTell(lease(2), same); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "waits to be retried") {
		t.Errorf("requeued trial: %v", err)
	}
	held := Trial{ID: 7, State: TrialRunning, Lease: 2}
	if err := held.RefusedTell(nil, same); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "try again") {
		t.Errorf("a trial that holds as read after the refused tell: %v", err)
	}
}

func TestReap(t *testing.T) {
	got := Reap([]LapsedLease{
		{TrialID: 1, StudyID: 5, Attempt: 0, MaxRetries: 1, Runner: "r1"},
		{TrialID: 2, StudyID: 5, Attempt: 1, MaxRetries: 1, Runner: "r1"},
		{TrialID: 3, StudyID: 4, Attempt: 0, MaxRetries: 0},
		{TrialID: 4, StudyID: 5, Attempt: 2, MaxRetries: 2, Runner: "r2"},
	})
	want := Reaping{
		Requeue: []int64{1},
		Fail:    []int64{2, 3, 4},
		FailErrors: []string{
			"lease expired after 2 attempts; runner r1 stopped heartbeating",
			"lease expired after 1 attempt; its ask/tell client stopped heartbeating",
			"lease expired after 3 attempts; runner r2 stopped heartbeating",
		},
		FailKind: FailurePreempted,
		FailedIn: []int64{4, 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Reap = %+v\nwant %+v", got, want)
	}
	if got := Reap(nil); !reflect.DeepEqual(got, Reaping{FailKind: FailurePreempted}) {
		t.Errorf("Reap(nil) = %+v, want nothing", got)
	}
}

func TestPageSize(t *testing.T) {
	for limit, want := range map[int]int{-1: 100, 0: 100, 1: 1, 1000: 1000, 1001: 1000} {
		if got := (TrialFilter{Limit: limit}).PageSize(); got != want {
			t.Errorf("PageSize with Limit %d = %d, want %d", limit, got, want)
		}
	}
}

func TestCapacity(t *testing.T) {
	for _, tc := range []struct {
		name          string
		c             Capacity
		limitParallel bool
		add, start    string // "" for admitted
	}{
		{"open", Capacity{State: StudyRunning, MaxTrials: 3, Trials: 2}, false, "", ""},
		{"no cap", Capacity{State: StudyRunning, Trials: 200}, false, "", ""},
		{"paused", Capacity{State: StudyPaused}, false, "", "is paused"},
		{"done", Capacity{State: StudyDone}, false, "is done and takes no new trials", "is done and hands out no more trials"},
		{"full", Capacity{State: StudyRunning, MaxTrials: 3, Trials: 3}, false, "already has 3 trials", "already has 3 trials"},
		{"parallel ignored", Capacity{State: StudyRunning, MaxParallel: 2, Running: 2}, false, "", ""},
		{"parallel", Capacity{State: StudyRunning, MaxParallel: 2, Running: 2}, true, "", "already runs 2 trials"},
		{"parallel room", Capacity{State: StudyRunning, MaxParallel: 2, Running: 1}, true, "", ""},
	} {
		for _, check := range []struct {
			op   string
			err  error
			want string
		}{
			{"RefuseAdd", tc.c.RefuseAdd(9), tc.add},
			{"RefuseStart", tc.c.RefuseStart(9, tc.limitParallel), tc.start},
		} {
			switch {
			case check.want == "" && check.err != nil:
				t.Errorf("%s: %s = %v, want nil", tc.name, check.op, check.err)
			case check.want != "" && (!errors.Is(check.err, ErrConflict) || !strings.Contains(check.err.Error(), check.want)):
				t.Errorf("%s: %s = %v, want a conflict containing %q", tc.name, check.op, check.err, check.want)
			}
		}
	}
}
