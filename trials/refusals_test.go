package trials

import (
	"errors"
	"math"
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
