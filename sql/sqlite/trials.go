package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// studyInfo is what the trial methods read about a study to check a write
// and to decode its trials' params.
type studyInfo struct {
	space trials.SearchSpace
	trials.Capacity
	leaseSeconds int
}

// loadStudy reads a study's studyInfo; found is false when it does not
// exist. In a write transaction it is the latest state, which stays so
// until the commit.
func loadStudy(ctx context.Context, tx *sql.Tx, id int64) (info studyInfo, found bool, err error) {
	var raw []byte
	var state string
	err = tx.QueryRowContext(ctx, `
		SELECT search_space, state, max_trials, max_parallel, next_number, lease_seconds
		FROM studies WHERE id = ?`, id).
		Scan(&raw, &state, &info.MaxTrials, &info.MaxParallel, &info.Trials, &info.leaseSeconds)
	if errors.Is(err, sql.ErrNoRows) {
		return info, false, nil
	}
	if err != nil {
		return info, false, err
	}
	info.State = trials.StudyState(state)
	info.space, err = record.DecodeSpace(raw)
	return info, err == nil, err
}

// countRunning counts the study's running trials.
func countRunning(ctx context.Context, tx *sql.Tx, studyID int64) (n int, err error) {
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM trials WHERE study_id = ? AND state = 'running'`, studyID).Scan(&n)
	return n, err
}

// newTrial is a trial row to insert; the study's next number is added by
// insertTrial.
type newTrial struct {
	state                                      trials.TrialState
	params, intermediate, metrics, systemAttrs jsonText
	value                                      *float64
	errText, runner, device                    string
	failureKind                                trials.FailureKind
	createdBy, finishedBy, heldBy              string
	origin                                     trials.Origin
	attempt                                    int
	lease                                      int64
	leaseExpiresAt                             *time.Time
	createdAt                                  time.Time
	startedAt, finishedAt                      *time.Time
	updatedAt                                  time.Time
}

// insertTrial inserts nt as the study's next trial, bumping the study's
// counter in the same transaction, and returns it as stored. The caller
// has checked the study's state and max_trials.
func insertTrial(ctx context.Context, tx *sql.Tx, studyID int64, info studyInfo, nt newTrial) (*trials.Trial, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE studies SET next_number = next_number + 1 WHERE id = ?`, studyID); err != nil {
		return nil, err
	}
	if nt.intermediate == nil {
		nt.intermediate = jsonText(`[]`)
	}
	if nt.metrics == nil {
		nt.metrics = jsonText(`{}`)
	}
	if nt.systemAttrs == nil {
		nt.systemAttrs = jsonText(`{}`)
	}
	var r record.TrialRow
	err := tx.QueryRowContext(ctx, `
		INSERT INTO trials AS t (study_id, number, state, params, value, intermediate, metrics,
			system_attrs, error, runner, device, origin, attempt, lease, lease_expires_at, created_at, started_at,
			finished_at, updated_at, created_by, finished_by, held_by, failure_kind)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+trialReturning,
		studyID, info.Trials, string(nt.state), nt.params, nt.value, nt.intermediate, nt.metrics,
		nt.systemAttrs, nt.errText, nt.runner, nt.device, string(nt.origin), nt.attempt, nt.lease, optionalNanos(nt.leaseExpiresAt),
		nanos(nt.createdAt), optionalNanos(nt.startedAt), optionalNanos(nt.finishedAt), nanos(nt.updatedAt),
		nt.createdBy, nt.finishedBy, nt.heldBy, string(nt.failureKind),
	).Scan(r.Dest(times)...)
	if err != nil {
		return nil, err
	}
	return r.Trial(info.space)
}

// loadOpenStudy loads a study that takes new trials, refusing one that is
// unknown, done, or already has max_trials trials.
func loadOpenStudy(ctx context.Context, tx *sql.Tx, studyID int64) (studyInfo, error) {
	info, found, err := loadStudy(ctx, tx, studyID)
	switch {
	case err != nil:
		return info, err
	case !found:
		return info, trials.StudyNotFound(studyID)
	}
	return info, info.RefuseAdd(studyID)
}

// EnqueueTrial adds a waiting trial with fixed, normalized params. It is
// ErrConflict when the study is done or already has MaxTrials trials. A
// paused study accepts trials; they wait until it is resumed.
func (s *Store) EnqueueTrial(ctx context.Context, studyID int64, params map[string]any) (_ *trials.Trial, err error) {
	defer wrap(&err, "EnqueueTrial(%d)", studyID)
	doc, err := jsonObject(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		info, err := loadOpenStudy(ctx, tx, studyID)
		if err != nil {
			return err
		}
		out, err = insertTrial(ctx, tx, studyID, info, newTrial{
			state: trials.TrialWaiting, params: doc, origin: trials.OriginEnqueued, createdAt: now, updatedAt: now,
			createdBy: trials.Actor(ctx),
		})
		return err
	})
	return out, err
}

// AddTrial adds a finished trial with the study's next number, as given.
// When it fills the study's max_trials and no trial is left unfinished,
// the study becomes done in the same transaction.
func (s *Store) AddTrial(ctx context.Context, studyID int64, t trials.Trial) (_ *trials.Trial, err error) {
	defer wrap(&err, "AddTrial(%d)", studyID)
	for _, tm := range []struct {
		name string
		t    *time.Time
	}{{"created_at", &t.CreatedAt}, {"started_at", t.StartedAt}, {"finished_at", t.FinishedAt}} {
		if tm.t != nil && !tm.t.IsZero() {
			if err := storableTime(tm.name, tm.t); err != nil {
				return nil, err
			}
		}
	}
	docs, err := record.EncodeFinished(t)
	if err != nil {
		return nil, err
	}
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		info, err := loadOpenStudy(ctx, tx, studyID)
		if err != nil {
			return err
		}
		nt := newTrial{
			state: t.State, params: docs.Params, value: t.Value, intermediate: docs.Intermediate, metrics: docs.Metrics,
			errText: t.Error, failureKind: t.FailureKind, runner: t.Runner, device: t.Device, attempt: t.Attempt,
			origin:    cmp.Or(t.Origin, trials.OriginRecorded),
			createdAt: t.CreatedAt, startedAt: t.StartedAt, finishedAt: t.FinishedAt, updatedAt: now,
			createdBy: trials.Actor(ctx), finishedBy: trials.Actor(ctx),
		}
		if nt.createdAt.IsZero() {
			nt.createdAt = now
		}
		if nt.finishedAt == nil {
			nt.finishedAt = &now
		}
		if out, err = insertTrial(ctx, tx, studyID, info, nt); err != nil {
			return err
		}
		return markDoneIfFinished(ctx, tx, studyID)
	})
	return out, err
}

// markDoneIfFinished makes the study done when it has all its max_trials
// trials and none is left unfinished. Run in the write transaction that
// finished a trial, it sees every other trial's latest state.
func markDoneIfFinished(ctx context.Context, tx *sql.Tx, studyID int64) error {
	_, err := tx.ExecContext(ctx, `
		UPDATE studies SET state = 'done'
		WHERE id = ? AND state <> 'done' AND max_trials > 0 AND next_number >= max_trials
			AND NOT EXISTS (
				SELECT 1 FROM trials o WHERE o.study_id = studies.id AND o.state IN ('waiting', 'running')
			)`, studyID)
	return err
}

// ClaimWaiting grants the oldest waiting trial of the study (the lowest
// number: retried trials go first) to runner, with a fresh lease whose
// token is one more than the trial's last. It returns (nil, nil) when no
// trial waits or, with limitParallel, while the study runs MaxParallel
// trials. ErrConflict when the study is not running.
func (s *Store) ClaimWaiting(ctx context.Context, studyID int64, runner string, limitParallel bool) (_ *trials.Trial, err error) {
	defer wrap(&err, "ClaimWaiting(%d, %q)", studyID, runner)
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		out = nil
		info, found, err := loadStudy(ctx, tx, studyID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.StudyNotFound(studyID)
		case info.State != trials.StudyRunning:
			return trials.StudyNotRunning(studyID, info.State)
		}
		if limitParallel && info.MaxParallel > 0 {
			running, err := countRunning(ctx, tx, studyID)
			if err != nil || running >= info.MaxParallel {
				return err
			}
		}
		var r record.TrialRow
		err = tx.QueryRowContext(ctx, `
			UPDATE trials AS t SET
				state = 'running', runner = ?, held_by = ?, lease = t.lease + 1,
				lease_expires_at = ?, started_at = ?, updated_at = ?
			WHERE t.id = (
				SELECT w.id FROM trials w WHERE w.study_id = ? AND w.state = 'waiting'
				ORDER BY w.number LIMIT 1
			)
			RETURNING `+trialReturning,
			runner, trials.Actor(ctx), nanos(now.Add(time.Duration(info.leaseSeconds)*time.Second)), nanos(now), nanos(now), studyID,
		).Scan(r.Dest(times)...)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // nothing waits
		}
		if err != nil {
			return err
		}
		out, err = r.Trial(info.space)
		return err
	})
	return out, err
}

// CreateRunning adds a running trial with the given normalized params,
// system attrs and origin, the study's next number and lease token 1. ErrConflict when the study is not
// running, has MaxTrials trials, or (with limitParallel) runs MaxParallel
// trials.
func (s *Store) CreateRunning(ctx context.Context, studyID int64, params map[string]any, attrs map[string]string, origin trials.Origin, runner string, limitParallel bool) (_ *trials.Trial, err error) {
	defer wrap(&err, "CreateRunning(%d, %q)", studyID, runner)
	doc, err := jsonObject(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	attrDoc, err := jsonObject(attrs)
	if err != nil {
		return nil, fmt.Errorf("encode attrs: %w", err)
	}
	var out *trials.Trial
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		info, found, err := loadStudy(ctx, tx, studyID)
		switch {
		case err != nil:
			return err
		case !found:
			return trials.StudyNotFound(studyID)
		}
		if limitParallel && info.MaxParallel > 0 {
			if info.Running, err = countRunning(ctx, tx, studyID); err != nil {
				return err
			}
		}
		if err := info.RefuseStart(studyID, limitParallel); err != nil {
			return err
		}
		expires := now.Add(time.Duration(info.leaseSeconds) * time.Second)
		out, err = insertTrial(ctx, tx, studyID, info, newTrial{
			state: trials.TrialRunning, params: doc, systemAttrs: attrDoc, origin: origin, runner: runner, lease: 1, leaseExpiresAt: &expires,
			createdAt: now, startedAt: &now, updatedAt: now, createdBy: trials.Actor(ctx), heldBy: trials.Actor(ctx),
		})
		return err
	})
	return out, err
}

// GetTrial finds a trial by id.
func (s *Store) GetTrial(ctx context.Context, id int64) (_ *trials.Trial, err error) {
	defer wrap(&err, "GetTrial(%d)", id)
	var out *trials.Trial
	err = s.read(ctx, func(tx *sql.Tx) error {
		t, found, err := readTrial(ctx, tx, id)
		if err == nil && !found {
			err = trials.TrialNotFound(id)
		}
		out = t
		return err
	})
	return out, err
}

// readTrial reads a trial and decodes it with its study's search space;
// found is false when it does not exist.
func readTrial(ctx context.Context, tx *sql.Tx, id int64) (*trials.Trial, bool, error) {
	var r record.TrialRow
	var space []byte
	err := tx.QueryRowContext(ctx, `
		SELECT `+record.TrialCols+`, s.search_space
		FROM trials t JOIN studies s ON s.id = t.study_id
		WHERE t.id = ?`, id).Scan(append(r.Dest(times), &space)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	t, err := r.TrialWithSpace(space)
	return t, err == nil, err
}

// studyTrials reads the study's search space and then the trials that
// query selects, decoded with it, both in tx.
func studyTrials(ctx context.Context, tx *sql.Tx, studyID int64, query string, args ...any) ([]trials.Trial, error) {
	var raw []byte
	err := tx.QueryRowContext(ctx, `SELECT search_space FROM studies WHERE id = ?`, studyID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trials.StudyNotFound(studyID)
	}
	if err != nil {
		return nil, err
	}
	space, err := record.DecodeSpace(raw)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return record.ScanTrials(rows, times, space)
}

// ListTrials returns a page of a study's trials, ordered by number, and
// whether more follow, f.PageSize() trials at most. Only AfterNumber < 0
// starts at the first trial: AfterNumber 0 starts after trial 0.
func (s *Store) ListTrials(ctx context.Context, studyID int64, f trials.TrialFilter) (_ []trials.Trial, more bool, err error) {
	defer wrap(&err, "ListTrials(%d)", studyID)
	if err := f.Validate(); err != nil {
		return nil, false, err
	}
	size := f.PageSize()
	var rows []trials.Trial
	err = s.read(ctx, func(tx *sql.Tx) error {
		var err error
		// Fetch one more than the page to learn whether more follow.
		rows, err = studyTrials(ctx, tx, studyID, `
			SELECT `+record.TrialCols+`
			FROM trials t
			WHERE t.study_id = ? AND (? = '' OR t.state = ?) AND t.number > ?
			ORDER BY t.number
			LIMIT ?`,
			studyID, string(f.State), string(f.State), max(f.AfterNumber, -1), size+1)
		return err
	})
	return record.Page(rows, size, err)
}

// BestTrial returns the study's best complete trial (the earliest among
// equals), ErrNotFound while none has completed.
func (s *Store) BestTrial(ctx context.Context, studyID int64) (_ *trials.Trial, err error) {
	defer wrap(&err, "BestTrial(%d)", studyID)
	var best []trials.Trial
	err = s.read(ctx, func(tx *sql.Tx) error {
		var err error
		best, err = studyTrials(ctx, tx, studyID, `
			SELECT `+record.TrialCols+`
			FROM studies s JOIN trials t ON t.id = `+bestIDSQL+`
			WHERE s.id = ?`, studyID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return record.Best(studyID, best)
}

// TrialsChangedSince returns the study's trials, ordered by number, written
// since the cursor (all of them for cursor 0), and the cursor for the next
// call. ErrNotFound for an unknown study.
//
// Every write of a trial bumps the database's change counter (change_seq)
// and stamps the trial with the new value (triggers, so no write path can
// forget). The cursor returned is the counter as the read's own snapshot
// has it, and a call returns the trials stamped above the cursor it is
// given. That is exact, with no margin and no repeats, because SQLite runs
// one write transaction at a time on a file, across processes, and a
// transaction that writes holds the lock from its first statement to its
// commit:
//
//   - The stamps are handed out in commit order: a transaction's stamps
//     are all above those of every transaction that committed before it,
//     and below those of every transaction after it.
//   - The snapshot therefore holds every transaction that stamped up to
//     the counter value it shows, and none that stamped above: each write
//     this read could not see gets a stamp above the cursor and is
//     returned by the next call, however late it commits.
//
// The counter and the trials are read in one read transaction, so from one
// snapshot.
func (s *Store) TrialsChangedSince(ctx context.Context, studyID int64, cursor int64) (_ []trials.Trial, next int64, err error) {
	defer wrap(&err, "TrialsChangedSince(%d, %d)", studyID, cursor)
	var out []trials.Trial
	err = s.read(ctx, func(tx *sql.Tx) error {
		// The counter first: the snapshot starts with the transaction's
		// first read, and every later statement shares it.
		if err := tx.QueryRowContext(ctx, `SELECT value FROM change_seq WHERE id = 1`).Scan(&next); err != nil {
			return fmt.Errorf("read the change counter: %w", err)
		}
		var err error
		out, err = studyTrials(ctx, tx, studyID, `
			SELECT `+record.TrialCols+`
			FROM trials t
			WHERE t.study_id = ? AND t.seq > ?
			ORDER BY t.number`, studyID, cursor)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}
