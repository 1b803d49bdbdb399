package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// leaseGuard is the condition every write on behalf of a lease holder
// carries: the trial is running and, when the caller presents a token, the
// token is the current grant's (trials.Trial.Holds, in SQL). A write that
// matches nothing changed nothing; the store then reads the trial to say
// why (trials.RefusedWrite). The write and that read run in one implicit
// transaction but with separate snapshots, so a concurrent grant can land
// in between: RefusedWrite then asks the caller to try again.
const leaseGuard = `t.id = @trial_id AND t.state = 'running'
	AND (@lease::bigint IS NULL OR t.lease = @lease::bigint)`

// trialWithSpaceSQL reads a trial and its study's search space; queued after
// a write in a batch, it sees the trial as the write left it.
const trialWithSpaceSQL = `
	SELECT ` + record.TrialCols + `, s.search_space
	FROM trials t JOIN studies s ON s.id = t.study_id
	WHERE t.id = @trial_id`

// readTrial scans trialWithSpaceSQL; found is false when the trial does not
// exist.
func readTrial(row pgx.Row) (t *trials.Trial, found bool, err error) {
	var r record.TrialRow
	var space []byte
	found, err = scanOptional(row, append(r.Dest(times), &space)...)
	if !found || err != nil {
		return nil, false, err
	}
	t, err = r.TrialWithSpace(space)
	return t, err == nil, err
}

// Heartbeat extends a running trial's lease by the study's lease length,
// counted from the database clock, and reports whether the study asks its
// trials to stop (it is done). A nil lease skips the token check.
// ErrConflict when the trial is not running or the lease is not current.
func (s *Store) Heartbeat(ctx context.Context, trialID int64, lease *int64) (expires time.Time, stop bool, err error) {
	defer wrap(&err, "Heartbeat(%d)", trialID)
	a := s.args(pgx.NamedArgs{"trial_id": trialID, "lease": lease})
	err = s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(`
			UPDATE trials t SET
				lease_expires_at = now() + @clock_offset::interval + make_interval(secs => s.lease_seconds),
				updated_at = clock_timestamp() + @clock_offset::interval
			FROM studies s
			WHERE s.id = t.study_id AND `+leaseGuard, a)
		// A narrow read: heartbeats are frequent and need none of the
		// trial's documents unless they are refused.
		b.Queue(`
			SELECT t.state, t.lease, t.error, t.lease_expires_at, s.state
			FROM trials t JOIN studies s ON s.id = t.study_id
			WHERE t.id = @trial_id`, a)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		var (
			t                 = trials.Trial{ID: trialID}
			state, studyState string
			expiresAt         *time.Time
		)
		found, err := scanOptional(br.QueryRow(), &state, &t.Lease, &t.Error, &expiresAt, &studyState)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case tag.RowsAffected() == 0 || expiresAt == nil:
			t.State = trials.TrialState(state)
			return trials.RefusedWrite(&t, lease)
		}
		expires, stop = *expiresAt, trials.StudyState(studyState) == trials.StudyDone
		return nil
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return expires, stop, nil
}

// Report records the value (and metrics) at a step of a running trial,
// replacing an earlier report of the same step and keeping the points in
// step order. Token rules as Heartbeat.
func (s *Store) Report(ctx context.Context, trialID int64, lease *int64, point trials.Intermediate) (_ *trials.Trial, err error) {
	defer wrap(&err, "Report(%d, step %d)", trialID, point.Step)
	if err := point.Validate(); err != nil {
		return nil, err
	}
	if point.Metrics == nil {
		point.Metrics = map[string]float64{}
	}
	doc, err := json.Marshal(point)
	if err != nil {
		return nil, fmt.Errorf("encode point: %w", err)
	}
	var out *trials.Trial
	a := s.args(pgx.NamedArgs{"trial_id": trialID, "lease": lease, "step": point.Step, "point": json.RawMessage(doc)})
	err = s.batch(ctx, func(b *pgx.Batch) {
		// Replace the step's point, if any, and keep the array sorted.
		b.Queue(`
			UPDATE trials t SET
				intermediate = (
					SELECT jsonb_agg(p.point ORDER BY (p.point->>'step')::bigint)
					FROM (
						SELECT e.point
						FROM jsonb_array_elements(t.intermediate) AS e(point)
						WHERE (e.point->>'step')::bigint <> @step::bigint
						UNION ALL
						SELECT @point::jsonb
					) AS p(point)
				),
				updated_at = clock_timestamp() + @clock_offset::interval
			WHERE `+leaseGuard, a)
		b.Queue(trialWithSpaceSQL, a)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		t, found, err := readTrial(br.QueryRow())
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case tag.RowsAffected() == 0:
			return trials.RefusedWrite(t, lease)
		}
		out = t
		return nil
	})
	return out, err
}

// SetSystemAttrs merges bookkeeping into a running trial: keys given
// replace those stored, others stay. ErrConflict when it is not running.
func (s *Store) SetSystemAttrs(ctx context.Context, trialID int64, attrs map[string]string) (err error) {
	defer wrap(&err, "SetSystemAttrs(%d)", trialID)
	doc, err := record.JSONObject(attrs)
	if err != nil {
		return fmt.Errorf("encode attrs: %w", err)
	}
	a := s.args(pgx.NamedArgs{"trial_id": trialID, "lease": nil, "attrs": doc})
	return s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(`
			UPDATE trials t SET
				system_attrs = t.system_attrs || @attrs::jsonb,
				updated_at = clock_timestamp() + @clock_offset::interval
			WHERE `+leaseGuard, a)
		b.Queue(`SELECT t.state, t.lease, t.error FROM trials t WHERE t.id = @trial_id`, a)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		t := trials.Trial{ID: trialID}
		var state string
		found, err := scanOptional(br.QueryRow(), &state, &t.Lease, &t.Error)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case tag.RowsAffected() == 0:
			t.State = trials.TrialState(state)
			return trials.RefusedWrite(&t, nil)
		}
		return nil
	})
}

// studyDoneCond holds for a study s that has all its max_trials trials and
// none left unfinished, not counting trial @trial_id: the statement that
// uses it also finishes that trial, and cannot see its own change.
// Callers hold the study's lock, taken in an earlier statement, so the
// check sees every trial finished by others: of two tells that finish the
// last two trials, the one that gets the lock second marks the study done.
const studyDoneCond = `s.state <> 'done' AND s.max_trials > 0 AND s.next_number >= s.max_trials
	AND NOT EXISTS (
		SELECT 1 FROM trials o
		WHERE o.study_id = s.id AND o.state IN ('waiting', 'running') AND o.id <> @trial_id::bigint
	)`

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
	metrics, err := record.JSONObject(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("encode metrics: %w", err)
	}
	var out *trials.Trial
	a := s.args(pgx.NamedArgs{
		"trial_id": trialID, "lease": lease, "state": string(o.State),
		"value": o.Value, "metrics": metrics, "error": o.Error, "device": o.Device,
		"failure_kind": string(o.FailureKind),
		"finished_by":  trials.Actor(ctx),
	})
	err = s.batch(ctx, func(b *pgx.Batch) {
		// Only a study with a cap can become done, and only then does the
		// tell need the study's lock.
		b.Queue(`
			SELECT 1 FROM studies
			WHERE id = (SELECT study_id FROM trials WHERE id = @trial_id) AND max_trials > 0
			FOR NO KEY UPDATE`, a)
		b.Queue(`
			WITH told AS (
				UPDATE trials t SET
					state = @state, value = @value, metrics = @metrics, error = @error,
					failure_kind = @failure_kind,
					device = CASE WHEN @device::text = '' THEN t.device ELSE @device::text END,
					lease_expires_at = NULL, finished_by = @finished_by,
					finished_at = now() + @clock_offset::interval,
					updated_at = clock_timestamp() + @clock_offset::interval
				WHERE `+leaseGuard+`
				RETURNING t.study_id
			), done AS (
				UPDATE studies s SET state = 'done'
				FROM told
				WHERE s.id = told.study_id AND `+studyDoneCond+`
			)
			SELECT (SELECT count(*) FROM told)`, a)
		b.Queue(trialWithSpaceSQL, a)
	}, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		var told int
		if err := br.QueryRow().Scan(&told); err != nil {
			return err
		}
		t, found, err := readTrial(br.QueryRow())
		switch {
		case err != nil:
			return err
		case !found:
			return trials.TrialNotFound(trialID)
		case told == 0:
			// Nil for a retried tell whose first attempt got through.
			if err := t.RefusedTell(lease, o); err != nil {
				return err
			}
		}
		out = t
		return nil
	})
	return out, err
}

// lapsedCond holds for a trial t that is running under an expired lease.
const lapsedCond = `t.state = 'running' AND t.lease_expires_at < now() + @clock_offset::interval`

// ReapExpired sends running trials whose lease expired (by the database
// clock) back to waiting while retries are left, and fails the rest, as
// trials.Reap decides.
//
// It is safe to run in every replica at once: the reapers lock the studies
// concerned in id order, and a trial already reaped by one no longer
// matches for the next.
func (s *Store) ReapExpired(ctx context.Context) (requeued, failed int, err error) {
	defer wrap(&err, "ReapExpired")
	err = s.transact(ctx, func(tx pgx.Tx) error {
		requeued, failed = 0, 0
		// Lock the studies first, as every other method does, so that a
		// failure that finishes a study is serialized with the tells of
		// its other trials, and with other reapers.
		rows, err := tx.Query(ctx, `
			SELECT id FROM studies
			WHERE id IN (SELECT study_id FROM trials t WHERE `+lapsedCond+`)
			ORDER BY id
			FOR NO KEY UPDATE`, s.args(nil))
		if err != nil {
			return err
		}
		studyIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(studyIDs) == 0 {
			return err
		}
		// A later statement than the locks, so it sees every reap that
		// committed before. Only a reaper changes a running trial's
		// attempt or runner, so what it reads holds until the writes.
		rows, err = tx.Query(ctx, `
			SELECT t.id, t.study_id, t.attempt, s.max_retries, t.runner
			FROM trials t JOIN studies s ON s.id = t.study_id
			WHERE t.study_id = ANY(@study_ids) AND `+lapsedCond+`
			ORDER BY t.id`, s.args(pgx.NamedArgs{"study_ids": studyIDs}))
		if err != nil {
			return err
		}
		lapsed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (l trials.LapsedLease, err error) {
			err = row.Scan(&l.TrialID, &l.StudyID, &l.Attempt, &l.MaxRetries, &l.Runner)
			return l, err
		})
		if err != nil {
			return err
		}
		plan := trials.Reap(lapsed)
		a := s.args(pgx.NamedArgs{
			"requeue": plan.Requeue, "fail": plan.Fail, "errors": plan.FailErrors,
			"fail_kind": string(plan.FailKind),
			"failed_in": plan.FailedIn, "trial_id": 0, "reaper": trials.ReaperActor,
		})
		// The writes re-check lapsedCond on the rows they update, so a
		// heartbeat or tell that commits first wins and its trial is left
		// alone. Trial ids start at 1: excluding trial 0 from studyDoneCond
		// excludes nothing.
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE trials t SET
				state = 'waiting', attempt = t.attempt + 1, lease_expires_at = NULL, runner = '', held_by = '',
				started_at = NULL, finished_at = NULL,
				intermediate = '[]', metrics = '{}', system_attrs = '{}', error = '',
				updated_at = clock_timestamp() + @clock_offset::interval
			WHERE t.id = ANY(@requeue::bigint[]) AND `+lapsedCond, a)
		b.Queue(`
			UPDATE trials t SET
				state = 'failed', attempt = t.attempt + 1, lease_expires_at = NULL,
				finished_at = now() + @clock_offset::interval, error = f.error, failure_kind = @fail_kind, finished_by = @reaper,
				updated_at = clock_timestamp() + @clock_offset::interval
			FROM unnest(@fail::bigint[], @errors::text[]) AS f(id, error)
			WHERE t.id = f.id AND `+lapsedCond, a)
		b.Queue(`
			UPDATE studies s SET state = 'done'
			WHERE s.id = ANY(@failed_in::bigint[]) AND `+studyDoneCond, a)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for _, n := range []*int{&requeued, &failed, nil} {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if n != nil {
				*n = int(tag.RowsAffected())
			}
		}
		return br.Close()
	})
	return requeued, failed, err
}
