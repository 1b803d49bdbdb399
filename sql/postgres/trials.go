package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// studyInfo is what the trial methods read about a trial's study to decode
// its params and to explain a refusal.
type studyInfo struct {
	space trials.SearchSpace
	trials.Capacity
}

// studyInfoSQL reads a studyInfo for study @study_id; it is queued after the
// write in a batch, so it sees the study as the write left it. It counts the
// running trials only when @limit_parallel asks for max_parallel to be
// enforced, the one case where a refusal needs the count.
const studyInfoSQL = `
	SELECT s.search_space, s.state, s.max_trials, s.max_parallel, s.next_number,
		CASE WHEN @limit_parallel::boolean AND s.max_parallel > 0
			THEN (SELECT count(*) FROM trials r WHERE r.study_id = s.id AND r.state = 'running')
			ELSE 0 END
	FROM studies s WHERE s.id = @study_id`

// readStudyInfo scans studyInfoSQL; found is false when the study does not
// exist.
func readStudyInfo(row pgx.Row) (info studyInfo, found bool, err error) {
	var raw []byte
	var state string
	found, err = scanOptional(row, &raw, &state, &info.MaxTrials, &info.MaxParallel, &info.Trials, &info.Running)
	if !found || err != nil {
		return info, false, err
	}
	info.State = trials.StudyState(state)
	info.space, err = record.DecodeSpace(raw)
	return info, err == nil, err
}

// EnqueueTrial adds a waiting trial with fixed, normalized params. It is
// ErrConflict when the study is done or already has MaxTrials trials. A
// paused study accepts trials; they wait until it is resumed.
func (s *Store) EnqueueTrial(ctx context.Context, studyID int64, params map[string]any) (_ *trials.Trial, err error) {
	defer wrap(&err, "EnqueueTrial(%d)", studyID)
	doc, err := record.JSONObject(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	var out *trials.Trial
	err = s.batch(ctx, func(b *pgx.Batch) {
		// The counter update re-checks its WHERE on the latest row version
		// when it had to wait for a concurrent writer, so the cap holds
		// without locking the study first.
		b.Queue(`
			WITH bump AS (
				UPDATE studies SET next_number = next_number + 1
				WHERE id = @study_id AND state <> 'done'
					AND (max_trials = 0 OR next_number < max_trials)
				RETURNING id, next_number - 1 AS number
			)
			INSERT INTO trials AS t (study_id, number, state, params, origin, created_by, created_at, updated_at)
			SELECT id, number, 'waiting', @params, @origin, @created_by,
				now() + @clock_offset::interval, clock_timestamp() + @clock_offset::interval
			FROM bump
			RETURNING `+record.TrialCols, s.args(pgx.NamedArgs{"study_id": studyID, "params": doc,
			"origin": string(trials.OriginEnqueued), "created_by": trials.Actor(ctx)}))
		b.Queue(studyInfoSQL, pgx.NamedArgs{"study_id": studyID, "limit_parallel": false})
	}, func(br pgx.BatchResults) error {
		var r record.TrialRow
		inserted, err := scanOptional(br.QueryRow(), r.Dest(times)...)
		if err != nil {
			return err
		}
		info, found, err := readStudyInfo(br.QueryRow())
		if err := refuseAdd(studyID, info, found, inserted, err); err != nil {
			return err
		}
		out, err = r.Trial(info.space)
		return err
	})
	return out, err
}

// AddTrial adds a finished trial with the study's next number, as given.
// The study row is locked first (the counter update), and the done check
// runs in a later statement so that it sees every trial finished before it.
func (s *Store) AddTrial(ctx context.Context, studyID int64, t trials.Trial) (_ *trials.Trial, err error) {
	defer wrap(&err, "AddTrial(%d)", studyID)
	docs, err := record.EncodeFinished(t)
	if err != nil {
		return nil, err
	}
	a := s.args(pgx.NamedArgs{
		"study_id": studyID, "state": string(t.State), "params": json.RawMessage(docs.Params), "value": t.Value,
		"intermediate": json.RawMessage(docs.Intermediate), "metrics": json.RawMessage(docs.Metrics), "error": t.Error,
		"failure_kind": string(t.FailureKind), "runner": t.Runner, "device": t.Device, "attempt": t.Attempt,
		"origin":     string(cmp.Or(t.Origin, trials.OriginRecorded)),
		"created_at": optionalTime(t.CreatedAt), "started_at": t.StartedAt, "finished_at": t.FinishedAt,
		"trial_id": 0, "by": trials.Actor(ctx),
	})
	var out *trials.Trial
	err = s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(`
			WITH bump AS (
				UPDATE studies SET next_number = next_number + 1
				WHERE id = @study_id AND state <> 'done'
					AND (max_trials = 0 OR next_number < max_trials)
				RETURNING id, next_number - 1 AS number
			)
			INSERT INTO trials AS t (study_id, number, state, params, value, intermediate, metrics,
				error, failure_kind, runner, device, attempt, origin, created_by, finished_by, created_at, started_at, finished_at, updated_at)
			SELECT id, number, @state, @params, @value, @intermediate, @metrics,
				@error, @failure_kind, @runner, @device, @attempt, @origin, @by, @by,
				coalesce(@created_at::timestamptz, now() + @clock_offset::interval),
				@started_at::timestamptz,
				coalesce(@finished_at::timestamptz, now() + @clock_offset::interval),
				clock_timestamp() + @clock_offset::interval
			FROM bump
			RETURNING `+record.TrialCols, a)
		b.Queue(`UPDATE studies s SET state = 'done' WHERE s.id = @study_id AND `+studyDoneCond, a)
		b.Queue(studyInfoSQL, pgx.NamedArgs{"study_id": studyID, "limit_parallel": false})
	}, func(br pgx.BatchResults) error {
		var r record.TrialRow
		inserted, err := scanOptional(br.QueryRow(), r.Dest(times)...)
		if err != nil {
			return err
		}
		if _, err := br.Exec(); err != nil {
			return err
		}
		info, found, err := readStudyInfo(br.QueryRow())
		if err := refuseAdd(studyID, info, found, inserted, err); err != nil {
			return err
		}
		out, err = r.Trial(info.space)
		return err
	})
	return out, err
}

// refuseAdd explains why the counter update of EnqueueTrial or AddTrial
// inserted no trial, from the study as the batch left it (err is
// readStudyInfo's); nil when the trial was inserted.
func refuseAdd(studyID int64, info studyInfo, found, inserted bool, err error) error {
	switch {
	case err != nil:
		return err
	case !found:
		return trials.StudyNotFound(studyID)
	case !inserted:
		// The study as read explains the refusal; it can only have filled
		// up since the counter update.
		return cmp.Or(info.RefuseAdd(studyID), trials.MaxTrialsConflict(studyID, info.MaxTrials))
	}
	return nil
}

// optionalTime is nil for the zero time, so that the query's default applies.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// scanOptional scans a row that may not exist.
func scanOptional(row pgx.Row, dest ...any) (bool, error) {
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockForParallelSQL locks the study row when the statement after it must
// count the study's running trials for max_parallel: two claimers that
// both counted before either inserted would overshoot. The lock is FOR NO
// KEY UPDATE, which, unlike FOR UPDATE, does not block inserting trials
// (their foreign key takes FOR KEY SHARE on the study).
const lockForParallelSQL = `
	SELECT 1 FROM studies
	WHERE id = @study_id AND @limit_parallel::boolean AND max_parallel > 0
	FOR NO KEY UPDATE`

// ClaimWaiting grants the oldest waiting trial of the study (the lowest
// number: retried trials go first) to runner, with a fresh lease whose
// token is one more than the trial's last. It returns (nil, nil) when no
// trial waits or, with limitParallel, while the study runs MaxParallel
// trials. ErrConflict when the study is not running.
func (s *Store) ClaimWaiting(ctx context.Context, studyID int64, runner string, limitParallel bool) (_ *trials.Trial, err error) {
	defer wrap(&err, "ClaimWaiting(%d, %q)", studyID, runner)
	var out *trials.Trial
	a := s.args(pgx.NamedArgs{"study_id": studyID, "runner": runner, "limit_parallel": limitParallel, "held_by": trials.Actor(ctx)})
	err = s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(lockForParallelSQL, a)
		// SKIP LOCKED: concurrent claimers each take a different trial
		// instead of queueing behind the first. The lock re-reads the
		// trial, so one claimed since our snapshot is skipped too.
		b.Queue(`
			WITH st AS (
				SELECT s.id, s.lease_seconds
				FROM studies s
				WHERE s.id = @study_id AND s.state = 'running'
					AND NOT (@limit_parallel::boolean AND s.max_parallel > 0
						AND (SELECT count(*) FROM trials r
							WHERE r.study_id = s.id AND r.state = 'running') >= s.max_parallel)
			), pick AS (
				SELECT t.id
				FROM trials t
				WHERE t.study_id = @study_id AND t.state = 'waiting' AND EXISTS (SELECT 1 FROM st)
				ORDER BY t.number
				LIMIT 1
				FOR UPDATE SKIP LOCKED
			)
			UPDATE trials t SET
				state = 'running',
				runner = @runner, held_by = @held_by,
				lease = t.lease + 1,
				lease_expires_at = now() + @clock_offset::interval + make_interval(secs => st.lease_seconds),
				started_at = now() + @clock_offset::interval,
				updated_at = clock_timestamp() + @clock_offset::interval
			FROM pick, st
			WHERE t.id = pick.id
			RETURNING `+record.TrialCols, a)
		b.Queue(studyInfoSQL, a)
	}, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		var r record.TrialRow
		claimed, err := scanOptional(br.QueryRow(), r.Dest(times)...)
		if err != nil {
			return err
		}
		info, found, err := readStudyInfo(br.QueryRow())
		switch {
		case err != nil:
			return err
		case !found:
			return trials.StudyNotFound(studyID)
		case !claimed && info.State != trials.StudyRunning:
			return trials.StudyNotRunning(studyID, info.State)
		case !claimed:
			return nil // nothing waits, or max_parallel is reached
		}
		out, err = r.Trial(info.space)
		return err
	})
	return out, err
}

// CreateRunning adds a running trial with the given normalized params and
// system attrs and origin, the study's next number and lease token 1, in one INSERT.
// ErrConflict when the study is not running, has MaxTrials trials, or (with
// limitParallel) runs MaxParallel trials.
func (s *Store) CreateRunning(ctx context.Context, studyID int64, params map[string]any, attrs map[string]string, origin trials.Origin, runner string, limitParallel bool) (_ *trials.Trial, err error) {
	defer wrap(&err, "CreateRunning(%d, %q)", studyID, runner)
	doc, err := record.JSONObject(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	attrDoc, err := record.JSONObject(attrs)
	if err != nil {
		return nil, fmt.Errorf("encode attrs: %w", err)
	}
	var out *trials.Trial
	a := s.args(pgx.NamedArgs{"study_id": studyID, "runner": runner, "limit_parallel": limitParallel, "params": doc, "attrs": attrDoc,
		"origin": string(origin), "created_by": trials.Actor(ctx)})
	err = s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(lockForParallelSQL, a)
		// The state and max_trials conditions are on the updated row
		// itself, which PostgreSQL re-checks after waiting for a concurrent
		// writer; the running count relies on the lock taken above.
		b.Queue(`
			WITH bump AS (
				UPDATE studies s SET next_number = s.next_number + 1
				WHERE s.id = @study_id AND s.state = 'running'
					AND (s.max_trials = 0 OR s.next_number < s.max_trials)
					AND NOT (@limit_parallel::boolean AND s.max_parallel > 0
						AND (SELECT count(*) FROM trials r
							WHERE r.study_id = s.id AND r.state = 'running') >= s.max_parallel)
				RETURNING s.id, s.next_number - 1 AS number, s.lease_seconds
			)
			INSERT INTO trials AS t (study_id, number, state, params, system_attrs, origin, runner, lease,
				lease_expires_at, created_at, started_at, updated_at, created_by, held_by)
			SELECT b.id, b.number, 'running', @params, @attrs::jsonb, @origin, @runner, 1,
				now() + @clock_offset::interval + make_interval(secs => b.lease_seconds),
				now() + @clock_offset::interval, now() + @clock_offset::interval,
				clock_timestamp() + @clock_offset::interval, @created_by, @created_by
			FROM bump b
			RETURNING `+record.TrialCols, a)
		b.Queue(studyInfoSQL, a)
	}, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		var r record.TrialRow
		inserted, err := scanOptional(br.QueryRow(), r.Dest(times)...)
		if err != nil {
			return err
		}
		info, found, err := readStudyInfo(br.QueryRow())
		switch {
		case err != nil:
			return err
		case !found:
			return trials.StudyNotFound(studyID)
		case inserted:
			out, err = r.Trial(info.space)
			return err
		default:
			// The insert's conditions are RefuseStart's; of those the
			// study as read no longer fails, only the running count can
			// have dropped since.
			return cmp.Or(info.RefuseStart(studyID, limitParallel), trials.MaxParallelConflict(studyID, info.Running))
		}
	})
	return out, err
}

// GetTrial finds a trial by id.
func (s *Store) GetTrial(ctx context.Context, id int64) (_ *trials.Trial, err error) {
	defer wrap(&err, "GetTrial(%d)", id)
	var r record.TrialRow
	var space []byte
	err = s.pool.QueryRow(ctx, `
		SELECT `+record.TrialCols+`, s.search_space
		FROM trials t JOIN studies s ON s.id = t.study_id
		WHERE t.id = @id`, pgx.NamedArgs{"id": id}).Scan(append(r.Dest(times), &space)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.TrialNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.TrialWithSpace(space)
}

// queryStudyTrials runs a query for a study's trials after one that reads
// the study, in one round trip, and decodes the trials with the study's
// search space. studySQL must select search_space first; extra receives the
// rest of its columns.
func (s *Store) queryStudyTrials(ctx context.Context, studyID int64, studySQL, trialsSQL string, a pgx.NamedArgs, extra ...any) ([]trials.Trial, error) {
	var out []trials.Trial
	err := s.batch(ctx, func(b *pgx.Batch) {
		b.Queue(studySQL, a)
		b.Queue(trialsSQL, a)
	}, func(br pgx.BatchResults) error {
		var raw []byte
		found, err := scanOptional(br.QueryRow(), append([]any{&raw}, extra...)...)
		if err != nil {
			return err
		}
		if !found {
			return trials.StudyNotFound(studyID)
		}
		space, err := record.DecodeSpace(raw)
		if err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = record.ScanTrials(rows, times, space)
		return err
	})
	return out, err
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
	// Fetch one more than the page to learn whether more follow.
	rows, err := s.queryStudyTrials(ctx, studyID,
		`SELECT search_space FROM studies WHERE id = @study_id`, `
		SELECT `+record.TrialCols+`
		FROM trials t
		WHERE t.study_id = @study_id AND (@state::text = '' OR t.state = @state::text)
			AND t.number > @after_number
		ORDER BY t.number
		LIMIT @limit`,
		pgx.NamedArgs{"study_id": studyID, "state": string(f.State), "after_number": max(f.AfterNumber, -1), "limit": size + 1})
	return record.Page(rows, size, err)
}

// BestTrial returns the study's best complete trial (the earliest among
// equals), ErrNotFound while none has completed.
func (s *Store) BestTrial(ctx context.Context, studyID int64) (_ *trials.Trial, err error) {
	defer wrap(&err, "BestTrial(%d)", studyID)
	best, err := s.queryStudyTrials(ctx, studyID,
		`SELECT search_space FROM studies WHERE id = @study_id`, `
		SELECT `+record.TrialCols+`
		FROM studies s
		CROSS JOIN LATERAL (`+fmt.Sprintf(bestSQL, "t.*")+`
		) t
		WHERE s.id = @study_id`,
		pgx.NamedArgs{"study_id": studyID})
	if err != nil {
		return nil, err
	}
	return record.Best(studyID, best)
}

// TrialsChangedSince returns the study's trials, ordered by number, last
// written by a transaction whose id is at least cursor (all of them for
// cursor 0), and the cursor for the next call. ErrNotFound for an unknown
// study.
//
// Every trial row carries the id of the transaction that last wrote it
// (trials.xid: the column's default on insert, a trigger on every update),
// and the cursor returned is the xmin of the very snapshot the trials were
// read with, taken in the same statement: pg_current_snapshot() returns the
// active snapshot, which for a SELECT is the one its scans use. That makes
// the cursor exact, whenever and in whatever order writers commit:
//
//   - Every transaction with an id below xmin had finished when the snapshot
//     was taken, so what it committed is in this read (and what it rolled
//     back is nowhere).
//   - Any write this read could not see was made by a transaction still
//     running when the snapshot was taken, or by one that got its id after
//     (a transaction only gets an id when it first writes); either way its
//     id is at least xmin, so the next call, from xmin, returns the trial
//     once the write is committed, however long that takes.
//
// Trials repeat across calls: those written by transactions from the
// oldest one still running at the read on (usually just the last few
// writes) are read again next time. Transaction ids are cluster-wide, so a
// long transaction anywhere in the cluster, in any database, holds the
// cursor back for its duration: calls then return everything written since
// it began, which costs time but misses nothing.
func (s *Store) TrialsChangedSince(ctx context.Context, studyID int64, cursor int64) (_ []trials.Trial, next int64, err error) {
	defer wrap(&err, "TrialsChangedSince(%d, %d)", studyID, cursor)
	out := []trials.Trial{}
	a := pgx.NamedArgs{"study_id": studyID, "cursor": cursor}
	err = s.batch(ctx, func(b *pgx.Batch) {
		// The study is read by a statement of its own: its search space
		// decodes the params, and it need not come from the trials'
		// snapshot. The trials statement yields one row with NULL trial
		// columns when no trial changed, so that it always carries the
		// cursor.
		b.Queue(`SELECT search_space FROM studies WHERE id = @study_id`, a)
		b.Queue(`
			SELECT snap.xmin, `+record.TrialCols+`
			FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) snap
			LEFT JOIN trials t ON t.study_id = @study_id AND t.xid >= @cursor
			ORDER BY t.number`, a)
	}, func(br pgx.BatchResults) error {
		out, next = out[:0], 0
		var raw []byte
		found, err := scanOptional(br.QueryRow(), &raw)
		if err != nil {
			return err
		}
		if !found {
			return trials.StudyNotFound(studyID)
		}
		space, err := record.DecodeSpace(raw)
		if err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if rows.RawValues()[1] == nil { // t.id: no trial changed
				dest := make([]any, len(rows.FieldDescriptions()))
				dest[0] = &next
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				continue
			}
			var r record.TrialRow
			if err := rows.Scan(append([]any{&next}, r.Dest(times)...)...); err != nil {
				return err
			}
			t, err := r.Trial(space)
			if err != nil {
				return err
			}
			out = append(out, *t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if next == 0 {
			return errors.New("the history query returned no cursor")
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}
