package trials

import "fmt"

// The refusals every Store gives, in one place so that the stores word them
// alike: their text is what a client reads (sql/storetest pins it).

// StudyNotFound is the KindNotFound error for an unknown study id.
func StudyNotFound(id int64) error { return NotFoundf("study %d does not exist", id) }

// StudyNameNotFound is the KindNotFound error for an unknown study name.
func StudyNameNotFound(name string) error { return NotFoundf("study %q does not exist", name) }

// TrialNotFound is the KindNotFound error for an unknown trial id.
func TrialNotFound(id int64) error { return NotFoundf("trial %d does not exist", id) }

// NoCompleteTrial is the KindNotFound error of Store.BestTrial while no
// trial of the study has completed.
func NoCompleteTrial(studyID int64) error {
	return NotFoundf("study %d has no complete trial yet", studyID)
}

// StudyNameTaken is the KindConflict error for a study created under a name
// another study has.
func StudyNameTaken(name string) error { return Conflictf("a study named %q already exists", name) }

// StudyDoneConflict is the KindConflict error for a trial added to a study
// that is done.
func StudyDoneConflict(studyID int64) error {
	return Conflictf("study %d is done and takes no new trials", studyID)
}

// MaxTrialsConflict is the KindConflict error for a trial added to a study
// that already has maxTrials trials, its cap.
func MaxTrialsConflict(studyID int64, maxTrials int) error {
	return Conflictf("study %d already has %d trials, its max_trials", studyID, maxTrials)
}

// MaxParallelConflict is the KindConflict error for a trial started in a
// study that already runs running trials, its max_parallel.
func MaxParallelConflict(studyID int64, running int) error {
	return Conflictf("study %d already runs %d trials, its max_parallel; try again when one finishes",
		studyID, running)
}

// StudyNotRunning is the KindConflict error for a trial asked of a study in
// state (paused or done), which hands out none.
func StudyNotRunning(id int64, state StudyState) error {
	if state == StudyDone {
		return Conflictf("study %d is done and hands out no more trials", id)
	}
	return Conflictf("study %d is %s: it hands out no trials until it is resumed", id, state)
}

// Holds reports whether a write on behalf of a lease holder, presenting
// the token (nil for a plain ask/tell client, which skips the check), may
// change t: t is running and the token, when presented, is the current
// grant's.
func (t *Trial) Holds(presented *int64) bool {
	return t.State == TrialRunning && (presented == nil || *presented == t.Lease)
}

// LeaseConflict explains why a write on t, made with the presented token,
// is refused: t is not running, or it runs under another lease. The error
// is KindConflict; it is nil when t.Holds(presented), where the write was
// not refused for its lease and only the caller knows why it failed.
func LeaseConflict(t *Trial, presented *int64) error {
	switch {
	case t.State == TrialRunning && presented != nil && *presented != t.Lease:
		return Conflictf("trial %d is no longer yours: its lease expired and it was handed to another runner (lease %d, you presented %d)",
			t.ID, t.Lease, *presented)
	case t.State == TrialWaiting && presented != nil:
		return Conflictf("trial %d is no longer running: its lease expired and it waits to be retried (you presented lease %d)",
			t.ID, *presented)
	case t.State == TrialWaiting:
		return Conflictf("trial %d is waiting: it has not been handed out, so it cannot be reported on yet", t.ID)
	case t.State == TrialFailed && t.Error != "":
		return Conflictf("trial %d already finished as failed (%s) and cannot change", t.ID, t.Error)
	case t.State.Finished():
		return Conflictf("trial %d already finished as %s and cannot change", t.ID, t.State)
	}
	return nil
}

// RefusedWrite is the error for a write on behalf of a lease holder,
// presenting the token, that a store did not make on t, as t reads after
// it: LeaseConflict's when t does not hold, else a conflict saying that t
// changed while it was being updated. That last case is a store whose
// guarded write and following read see different snapshots (a concurrent
// grant landed in between): the caller may try again. It is always
// KindConflict, so that every store refuses alike.
func RefusedWrite(t *Trial, presented *int64) error {
	if err := LeaseConflict(t, presented); err != nil {
		return err
	}
	return Conflictf("trial %d changed while it was being updated (it is %s under lease %d); try again",
		t.ID, t.State, t.Lease)
}

// RefusedTell decides a tell of o, presenting the token, that a store did
// not write on t, as t reads after it: nil when t already finished with o
// (a retried tell whose first attempt got through, answered with t
// unchanged), else the KindConflict error that says why (RetellConflict
// for a finished trial, RefusedWrite for any other).
func (t *Trial) RefusedTell(presented *int64, o Outcome) error {
	if t.State.Finished() {
		return t.RetellConflict(presented, o)
	}
	return RefusedWrite(t, presented)
}

// RetellConflict decides a tell of o, presenting the token, that finds t
// already finished: nil when it tells the outcome t finished with again (a
// retried tell whose first attempt got through, answered with t
// unchanged), else the KindConflict error that says why it cannot replace
// it. t must be finished.
func (t *Trial) RetellConflict(presented *int64, o Outcome) error {
	switch {
	case presented != nil && *presented != t.Lease:
		return Conflictf("trial %d already finished as %s under lease %d; you presented lease %d",
			t.ID, t.DescribeOutcome(), t.Lease, *presented)
	case t.SameOutcome(o):
		return nil
	}
	return Conflictf("trial %d already finished as %s; a different outcome cannot replace it",
		t.ID, t.DescribeOutcome())
}

// ExpiredLeaseError is the error text of a trial that failed because its
// last lease expired after attempts grants, saying which runner ("" for a
// plain ask/tell client) stopped heartbeating (see Reap).
func ExpiredLeaseError(attempts int, runner string) string {
	plural := "s"
	if attempts == 1 {
		plural = ""
	}
	who := "its ask/tell client"
	if runner != "" {
		who = "runner " + runner
	}
	return fmt.Sprintf("lease expired after %d attempt%s; %s stopped heartbeating", attempts, plural, who)
}

// Capacity is what a store knows of a study when it admits a new trial:
// its state, its caps, and how many trials it has and runs.
type Capacity struct {
	State                  StudyState
	MaxTrials, MaxParallel int
	// Trials counts the study's trials so far: its next trial number.
	Trials int
	// Running counts its running trials. Stores count them only where
	// MaxParallel is enforced.
	Running int
}

// Full reports whether the study has all its MaxTrials trials.
func (c Capacity) Full() bool { return c.MaxTrials > 0 && c.Trials >= c.MaxTrials }

// RefuseAdd decides whether the study takes one more trial that is not
// started (Store.EnqueueTrial, Store.AddTrial): nil when it does, else a
// KindConflict error (the study is done, or full). A paused study takes
// trials; they wait until it is resumed.
func (c Capacity) RefuseAdd(studyID int64) error {
	switch {
	case c.State == StudyDone:
		return StudyDoneConflict(studyID)
	case c.Full():
		return MaxTrialsConflict(studyID, c.MaxTrials)
	}
	return nil
}

// RefuseStart decides whether the study starts one more trial
// (Store.CreateRunning): nil when it does, else a KindConflict error (the
// study is not running, is full, or, with limitParallel, runs MaxParallel
// trials).
func (c Capacity) RefuseStart(studyID int64, limitParallel bool) error {
	switch {
	case c.State != StudyRunning:
		return StudyNotRunning(studyID, c.State)
	case c.Full():
		return MaxTrialsConflict(studyID, c.MaxTrials)
	case limitParallel && c.MaxParallel > 0 && c.Running >= c.MaxParallel:
		return MaxParallelConflict(studyID, c.Running)
	}
	return nil
}
