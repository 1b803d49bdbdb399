package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// CreateStudy stores a validated study. A duplicate name is ErrConflict.
func (s *Store) CreateStudy(ctx context.Context, study trials.Study) (_ *trials.Study, err error) {
	defer wrap(&err, "CreateStudy(%q)", study.Name)
	if err := study.Validate(); err != nil {
		return nil, err
	}
	docs, err := record.EncodeStudy(study)
	if err != nil {
		return nil, err
	}
	// A nil jsonText would be bound as '' (TEXT): SQL NULL instead.
	var workload any
	if docs.Workload != nil {
		workload = jsonText(docs.Workload)
	}
	var out *trials.Study
	err = s.write(ctx, func(tx *sql.Tx, now time.Time) error {
		// The write lock is held: nobody can take the name between this
		// check and the insert.
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM studies WHERE name = ?)`, study.Name).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return trials.StudyNameTaken(study.Name)
		}
		var r record.StudyRow
		err := tx.QueryRowContext(ctx, `
			INSERT INTO studies AS s (name, objective, search_space, sampler, pruner, workload,
				max_trials, max_parallel, max_retries, lease_seconds, state, created_at, created_by,
				objectives, constraints)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+studyReturning,
			study.Name, jsonText(docs.Objective), jsonText(docs.SearchSpace), jsonText(docs.Sampler),
			jsonText(docs.Pruner), workload,
			study.MaxTrials, study.MaxParallel, study.MaxRetries, study.LeaseSeconds, string(study.State), nanos(now),
			trials.Actor(ctx), jsonText(docs.Objectives), jsonText(docs.Constraints),
		).Scan(r.Dest(times)...)
		if err != nil {
			return err
		}
		// Return the study as GetStudy will, decoded from what was stored.
		out, err = r.Study()
		return err
	})
	return out, err
}

// GetStudy finds a study by id.
func (s *Store) GetStudy(ctx context.Context, id int64) (_ *trials.Study, err error) {
	defer wrap(&err, "GetStudy(%d)", id)
	var out *trials.Study
	err = s.read(ctx, func(tx *sql.Tx) error {
		var r record.StudyRow
		err := tx.QueryRowContext(ctx, `SELECT `+record.StudyCols+` FROM studies s WHERE s.id = ?`, id).Scan(r.Dest(times)...)
		if errors.Is(err, sql.ErrNoRows) {
			return trials.StudyNotFound(id)
		}
		if err != nil {
			return err
		}
		out, err = r.Study()
		return err
	})
	return out, err
}

// GetStudyByName finds a study by its unique name.
func (s *Store) GetStudyByName(ctx context.Context, name string) (_ *trials.Study, err error) {
	defer wrap(&err, "GetStudyByName(%q)", name)
	var out *trials.Study
	err = s.read(ctx, func(tx *sql.Tx) error {
		var r record.StudyRow
		err := tx.QueryRowContext(ctx, `SELECT `+record.StudyCols+` FROM studies s WHERE s.name = ?`, name).Scan(r.Dest(times)...)
		if errors.Is(err, sql.ErrNoRows) {
			return trials.StudyNameNotFound(name)
		}
		if err != nil {
			return err
		}
		out, err = r.Study()
		return err
	})
	return out, err
}

// bestIDSQL selects the id of the best feasible complete trial of a
// single-objective study s, the earliest among equals; none for a
// multi-objective study, whose answer is a front. The feasibility test is
// trials.Study.Feasible said in SQL (a missing metric breaks its
// constraint; a bound is broken strictly beyond it); sql/storetest checks
// the two agree.
const bestIDSQL = `(
	SELECT t.id FROM trials t
	WHERE t.study_id = s.id AND t.state = 'complete' AND json_array_length(s.objectives) = 0
		AND NOT EXISTS (
			SELECT 1 FROM json_each(s.constraints) c
			LEFT JOIN json_each(t.metrics) m ON m.key = c.value ->> '$.metric'
			WHERE m.key IS NULL OR m.value < (c.value ->> '$.min') OR m.value > (c.value ->> '$.max'))
	ORDER BY CASE WHEN s.objective ->> '$.direction' = 'maximize' THEN -t.value ELSE t.value END, t.number
	LIMIT 1)`

// summarySQL selects a page of studies with their trial counts per state,
// the runners holding their running trials, and their best complete trial,
// in one statement: the rows record.SummaryRow receives. A NULL :id
// selects every study, from the one after :after_id on, :limit at most.
// The page is chosen first, so that only its studies' trials are counted.
// Studies come in id order, which is creation order (AUTOINCREMENT).
const summarySQL = `
	WITH page AS (
		SELECT id FROM studies
		WHERE (:id IS NULL OR id = :id) AND id > :after_id
		ORDER BY id
		LIMIT :limit
	)
	SELECT ` + record.StudyCols + `,
		coalesce(c.waiting, 0), coalesce(c.running, 0), coalesce(c.complete, 0),
		coalesce(c.pruned, 0), coalesce(c.failed, 0), coalesce(c.runners, 0), b.id, b.value
	FROM studies s
	JOIN page ON page.id = s.id
	LEFT JOIN (
		SELECT t.study_id,
			sum(t.state = 'waiting') AS waiting,
			sum(t.state = 'running') AS running,
			sum(t.state = 'complete') AS complete,
			sum(t.state = 'pruned') AS pruned,
			sum(t.state = 'failed') AS failed,
			-- NULL for the other states, which count(DISTINCT) skips; ''
			-- (plain ask/tell clients) counts as one runner.
			count(DISTINCT CASE WHEN t.state = 'running' THEN t.runner END) AS runners
		FROM trials t
		WHERE t.study_id IN (SELECT id FROM page)
		GROUP BY t.study_id
	) c ON c.study_id = s.id
	LEFT JOIN trials b ON b.id = ` + bestIDSQL + `
	ORDER BY s.id`

// ListStudies returns a page of studies with their counts and best value,
// oldest first, from one query, and whether more follow.
func (s *Store) ListStudies(ctx context.Context, f trials.StudyFilter) (_ []trials.StudySummary, more bool, err error) {
	defer wrap(&err, "ListStudies")
	size := f.PageSize()
	var out []trials.StudySummary
	err = s.read(ctx, func(tx *sql.Tx) error {
		// Fetch one more than the page to learn whether more follow.
		rows, err := tx.QueryContext(ctx, summarySQL,
			sql.Named("id", nil), sql.Named("after_id", f.AfterID), sql.Named("limit", size+1))
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = record.ScanSummaries(rows, times)
		return err
	})
	return record.Page(out, size, err)
}

// SummarizeStudy returns one study with its counts and best value.
func (s *Store) SummarizeStudy(ctx context.Context, id int64) (_ *trials.StudySummary, err error) {
	defer wrap(&err, "SummarizeStudy(%d)", id)
	var out *trials.StudySummary
	err = s.read(ctx, func(tx *sql.Tx) error {
		var r record.SummaryRow
		err := tx.QueryRowContext(ctx, summarySQL, sql.Named("id", id), sql.Named("after_id", 0), sql.Named("limit", 1)).Scan(r.Dest(times)...)
		if errors.Is(err, sql.ErrNoRows) {
			return trials.StudyNotFound(id)
		}
		if err != nil {
			return err
		}
		out, err = r.Summary()
		return err
	})
	return out, err
}

// SetStudyState pauses, resumes or stops a study. Every change is allowed,
// done back to running included, so that a study stopped by hand can be
// resumed.
func (s *Store) SetStudyState(ctx context.Context, id int64, state trials.StudyState) (_ *trials.Study, err error) {
	defer wrap(&err, "SetStudyState(%d, %q)", id, state)
	if err := state.Validate(); err != nil {
		return nil, err
	}
	var out *trials.Study
	err = s.write(ctx, func(tx *sql.Tx, _ time.Time) error {
		var r record.StudyRow
		err := tx.QueryRowContext(ctx, `
			UPDATE studies AS s SET state = ? WHERE s.id = ?
			RETURNING `+studyReturning, string(state), id).Scan(r.Dest(times)...)
		if errors.Is(err, sql.ErrNoRows) {
			return trials.StudyNotFound(id)
		}
		if err != nil {
			return err
		}
		out, err = r.Study()
		return err
	})
	return out, err
}

// DeleteStudy removes a study; its trials go with it (ON DELETE CASCADE,
// enforced because every connection turns foreign keys on).
func (s *Store) DeleteStudy(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "DeleteStudy(%d)", id)
	return s.write(ctx, func(tx *sql.Tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM studies WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return trials.StudyNotFound(id)
		}
		return nil
	})
}

// LeasableStudies returns running studies with one of the workload types
// that could hand out a trial now, the study with the fewest running trials
// first, then the oldest, so that runners spread over studies. It is a hint:
// the claim that follows re-checks everything under the write lock.
func (s *Store) LeasableStudies(ctx context.Context, workloads []string) (_ []trials.Study, err error) {
	defer wrap(&err, "LeasableStudies(%q)", workloads)
	if len(workloads) == 0 {
		return []trials.Study{}, nil
	}
	types, err := json.Marshal(workloads)
	if err != nil {
		return nil, fmt.Errorf("encode workloads: %w", err)
	}
	var out []trials.Study
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `
			SELECT `+record.StudyCols+`
			FROM (
				SELECT st.*, (
					SELECT count(*) FROM trials t WHERE t.study_id = st.id AND t.state = 'running'
				) AS running
				FROM studies st
			) s
			WHERE s.state = 'running'
				AND s.workload ->> '$.type' IN (SELECT value FROM json_each(?))
				AND (s.max_parallel = 0 OR s.running < s.max_parallel)
				AND (s.max_trials = 0 OR s.next_number < s.max_trials
					OR EXISTS (SELECT 1 FROM trials w WHERE w.study_id = s.id AND w.state = 'waiting'))
			ORDER BY s.running, s.created_at, s.id`, jsonText(types))
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = record.ScanStudies(rows, times)
		return err
	})
	return out, err
}
