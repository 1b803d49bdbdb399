package trials

import (
	"cmp"
	"slices"
)

// LapsedLease is a running trial whose lease expired, as a store's reaper
// finds it.
type LapsedLease struct {
	TrialID, StudyID int64
	// Attempt counts the trial's earlier lost leases; MaxRetries is its
	// study's.
	Attempt, MaxRetries int
	// Runner held the lease ("" for a plain ask/tell client).
	Runner string
}

// Reaping is what becomes of lapsed leases. A trial with a retry left
// (Attempt < MaxRetries) goes back to waiting: it keeps its number and
// params, counts one more attempt and loses what the lost attempt recorded
// (runner, start time, learning curve, metrics, system attrs), so that the
// retry starts clean. The others fail, keeping what they recorded, with an
// error that says which runner stopped heartbeating. The stores write
// those columns; who is requeued and what a failure says is decided here.
type Reaping struct {
	// Requeue are the trials that go back to waiting.
	Requeue []int64
	// Fail are the trials that fail, FailErrors[i] the error of Fail[i].
	Fail       []int64
	FailErrors []string
	// FailKind is the failure kind of every trial in Fail: a lost lease
	// says nothing about the configuration.
	FailKind FailureKind
	// FailedIn are the studies of Fail, ascending, each once: a failure
	// can finish a study's last trial, so each may now be done.
	FailedIn []int64
}

// Reap decides what becomes of each lapsed lease.
func Reap(lapsed []LapsedLease) Reaping {
	r := Reaping{FailKind: FailurePreempted}
	for _, l := range lapsed {
		if l.Attempt < l.MaxRetries {
			r.Requeue = append(r.Requeue, l.TrialID)
			continue
		}
		r.Fail = append(r.Fail, l.TrialID)
		r.FailErrors = append(r.FailErrors, ExpiredLeaseError(l.Attempt+1, l.Runner))
		r.FailedIn = append(r.FailedIn, l.StudyID)
	}
	slices.SortFunc(r.FailedIn, cmp.Compare)
	r.FailedIn = slices.Compact(r.FailedIn)
	return r
}
