package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// leasedTrial is what the lease holder's writes read about a trial before
// writing: enough to check the lease and to explain a refusal.
type leasedTrial struct {
	t            trials.Trial
	leaseSeconds int
	studyState   trials.StudyState
}

// loadLeased reads a trial for a lease holder's write; found is false when
// it does not exist.
func loadLeased(ctx context.Context, tx *sql.Tx, id int64) (lt leasedTrial, found bool, err error) {
	var state, studyState string
	lt.t.ID = id
	err = tx.QueryRowContext(ctx, `
		SELECT t.state, t.lease, t.error, s.lease_seconds, s.state
		FROM trials t JOIN studies s ON s.id = t.study_id
		WHERE t.id = ?`, id).Scan(&state, &lt.t.Lease, &lt.t.Error, &lt.leaseSeconds, &studyState)
	if errors.Is(err, sql.ErrNoRows) {
		return lt, false, nil
	}
	if err != nil {
		return lt, false, err
	}
	lt.t.State, lt.studyState = trials.TrialState(state), trials.StudyState(studyState)
	return lt, true, nil
}

// Heartbeat extends a running trial's lease by the study's lease length,
// counted from the store's clock, and reports whether the study asks its
// trials to stop (it is done). A nil lease skips the token check.
// ErrConflict when the trial is not running or the lease is not current.
func (s *Store) Heartbeat(ctx context.Context, trialID int64, lease *int64) (expires time.Time, stop bool, err error) {
	defer wrap(&err, "Heartbeat(%d)", trialID)
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		lt, found, err := loadLeased(ctx, tx, trialID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case !lt.t.Holds(lease):
			return trials.RefusedWrite(&lt.t, lease)
		}
		expires = now.Add(time.Duration(lt.leaseSeconds) * time.Second)
		stop = lt.studyState == trials.StudyDone
		_, err = tx.ExecContext(ctx, `UPDATE trials SET lease_expires_at = ?, updated_at = ? WHERE id = ?`,
			nanos(expires), nanos(now), trialID)
		return err
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return expires, stop, nil
}

// updateTrial runs UPDATE trials SET set WHERE id = trialID and returns the
// trial as written.
func updateTrial(ctx context.Context, tx *sql.Tx, trialID int64, set string, args ...any) (*trials.Trial, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE trials SET `+set+` WHERE id = ?`, append(args, trialID)...); err != nil {
		return nil, err
	}
	t, found, err := readTrial(ctx, tx, trialID)
	if err == nil && !found {
		err = trials.TrialNotFound(trialID)
	}
	return t, err
}

// Report records the value (and metrics) at a step of a running trial,
// replacing an earlier report of the same step and keeping the points in
// step order. Token rules as Heartbeat.
func (s *Store) Report(ctx context.Context, trialID int64, lease *int64, point trials.Intermediate) (_ *trials.Trial, err error) {
	defer wrap(&err, "Report(%d, step %d)", trialID, point.Step)
	if err := point.Validate(); err != nil {
		return nil, err
	}
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		t, found, err := readTrial(ctx, tx, trialID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case !t.Holds(lease):
			return trials.RefusedWrite(t, lease)
		}
		// The write lock is held since the read: replacing the point in Go
		// loses no concurrent report.
		curve := []trials.Intermediate{point}
		for _, p := range t.Intermediate {
			if p.Step != point.Step {
				curve = append(curve, p)
			}
		}
		doc, err := json.Marshal(record.SortedCurve(curve))
		if err != nil {
			return fmt.Errorf("encode intermediate values: %w", err)
		}
		out, err = updateTrial(ctx, tx, trialID, `intermediate = ?, updated_at = ?`, jsonText(doc), nanos(now))
		return err
	})
	return out, err
}

// SetSystemAttrs merges bookkeeping into a running trial: keys given
// replace those stored, others stay. ErrConflict when it is not running.
func (s *Store) SetSystemAttrs(ctx context.Context, trialID int64, attrs map[string]string) (err error) {
	defer wrap(&err, "SetSystemAttrs(%d)", trialID)
	return s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		t, found, err := readTrial(ctx, tx, trialID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case !t.Holds(nil):
			return trials.RefusedWrite(t, nil)
		}
		merged := maps.Clone(t.SystemAttrs)
		maps.Copy(merged, attrs)
		doc, err := jsonObject(merged)
		if err != nil {
			return fmt.Errorf("encode attrs: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE trials SET system_attrs = ?, updated_at = ? WHERE id = ?`, doc, nanos(now), trialID)
		return err
	})
}

// Tell finishes a running trial. Telling a finished trial the same outcome
// (state, value, metrics and error) again returns it unchanged; a different
// one is ErrConflict, as is telling a trial that was never handed out or
// whose lease passed to another runner. A complete outcome needs its Value.
// When the trial was the last unfinished one of a study that has MaxTrials
// trials, the study becomes done in the same transaction.
func (s *Store) Tell(ctx context.Context, trialID int64, lease *int64, o trials.Outcome) (_ *trials.Trial, err error) {
	defer wrap(&err, "Tell(%d, %s)", trialID, o.State)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	metrics, err := jsonObject(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("encode metrics: %w", err)
	}
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		t, found, err := readTrial(ctx, tx, trialID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case t.Holds(lease):
			device := t.Device
			if o.Device != "" {
				device = o.Device
			}
			out, err = updateTrial(ctx, tx, trialID, `
				state = ?, value = ?, metrics = ?, error = ?, failure_kind = ?, device = ?, finished_by = ?,
				lease_expires_at = NULL, finished_at = ?, updated_at = ?`,
				string(o.State), o.Value, metrics, o.Error, string(o.FailureKind), device, trials.Actor(ctx), nanos(now), nanos(now))
			if err != nil {
				return err
			}
			return markDoneIfFinished(ctx, tx, t.StudyID)
		}
		// Nil for a retried tell whose first attempt got through.
		if err := t.RefusedTell(lease, o); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}

// ReapExpired sends running trials whose lease expired (by the store's
// clock) back to waiting while retries are left, and fails the rest, as
// trials.Reap decides.
//
// It is safe to run in several processes at once: reapers take turns on
// the write lock, and a trial reaped by one no longer matches for the next.
func (s *Store) ReapExpired(ctx context.Context) (requeued, failed int, err error) {
	defer wrap(&err, "ReapExpired")
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT t.id, t.study_id, t.attempt, s.max_retries, t.runner
			FROM trials t JOIN studies s ON s.id = t.study_id
			WHERE t.state = 'running' AND t.lease_expires_at < ?
			ORDER BY t.id`, nanos(now))
		if err != nil {
			return err
		}
		var lapsed []trials.LapsedLease
		for rows.Next() {
			var l trials.LapsedLease
			if err := rows.Scan(&l.TrialID, &l.StudyID, &l.Attempt, &l.MaxRetries, &l.Runner); err != nil {
				rows.Close()
				return err
			}
			lapsed = append(lapsed, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// The write lock is held since the read: every lapsed trial is
		// still as read.
		plan := trials.Reap(lapsed)
		for _, id := range plan.Requeue {
			if _, err := tx.ExecContext(ctx, `
				UPDATE trials SET
					state = 'waiting', attempt = attempt + 1, lease_expires_at = NULL, runner = '', held_by = '',
					started_at = NULL, finished_at = NULL,
					intermediate = '[]', metrics = '{}', system_attrs = '{}', error = '',
					updated_at = ?
				WHERE id = ?`, nanos(now), id); err != nil {
				return err
			}
		}
		for i, id := range plan.Fail {
			if _, err := tx.ExecContext(ctx, `
				UPDATE trials SET
					state = 'failed', attempt = attempt + 1, lease_expires_at = NULL,
					finished_at = ?, error = ?, failure_kind = ?, finished_by = ?,
					updated_at = ?
				WHERE id = ?`, nanos(now), plan.FailErrors[i], string(plan.FailKind), trials.ReaperActor, nanos(now), id); err != nil {
				return err
			}
		}
		for _, studyID := range plan.FailedIn {
			if err := markDoneIfFinished(ctx, tx, studyID); err != nil {
				return err
			}
		}
		requeued, failed = len(plan.Requeue), len(plan.Fail)
		return nil
	})
	return requeued, failed, err
}
