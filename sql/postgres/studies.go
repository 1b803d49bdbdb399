package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// bestSQL selects the best feasible complete trial of a single-objective
// study s, the earliest among equals, with the columns given as %[1]s;
// nothing for a multi-objective study, whose answer is a front. One branch
// per direction, each switched off by a condition on s alone, lets either
// walk the (study_id, value) index from its end instead of sorting the
// history; a constrained study's walk stops at the first feasible trial.
const bestSQL = `
	(
		SELECT %[1]s FROM trials t
		WHERE t.study_id = s.id AND t.state = 'complete' AND s.objective->>'direction' <> 'maximize'
			AND s.objectives = '[]' AND ` + feasibleSQL + `
		ORDER BY t.value, t.number
		LIMIT 1
	) UNION ALL (
		SELECT %[1]s FROM trials t
		WHERE t.study_id = s.id AND t.state = 'complete' AND s.objective->>'direction' = 'maximize'
			AND s.objectives = '[]' AND ` + feasibleSQL + `
		ORDER BY t.value DESC, t.number
		LIMIT 1
	)`

// feasibleSQL holds for a trial t that keeps every constraint of its study
// s: trials.Study.Feasible said in SQL (a missing metric breaks its
// constraint; a bound is broken strictly beyond it), so that the best
// trial is found without reading the history. sql/storetest checks the
// two agree.
const feasibleSQL = `NOT EXISTS (
		SELECT 1 FROM jsonb_array_elements(s.constraints) c
		WHERE t.metrics -> (c->>'metric') IS NULL
			OR (t.metrics->>(c->>'metric'))::float8 < (c->>'min')::float8
			OR (t.metrics->>(c->>'metric'))::float8 > (c->>'max')::float8)`

// summarySQL returns the statement that selects studies with their trial
// counts per state and their best complete trial, all at once: the counts
// come from one pass over each study's trials (the (study_id, state, number)
// index), the best from bestSQL; record.SummaryRow receives its rows. where
// is a WHERE clause, tail what follows the ORDER BY (a LIMIT) or nothing.
// Studies come in id order, which is creation order: ids are handed out as
// studies are created, and a page resumes after the last id it listed.
func summarySQL(where, tail string) string {
	return `
	SELECT ` + record.StudyCols + `,
		c.waiting, c.running, c.complete, c.pruned, c.failed, c.runners, b.id, b.value
	FROM studies s
	CROSS JOIN LATERAL (
		SELECT
			count(*) FILTER (WHERE t.state = 'waiting') AS waiting,
			count(*) FILTER (WHERE t.state = 'running') AS running,
			count(*) FILTER (WHERE t.state = 'complete') AS complete,
			count(*) FILTER (WHERE t.state = 'pruned') AS pruned,
			count(*) FILTER (WHERE t.state = 'failed') AS failed,
			count(DISTINCT t.runner) FILTER (WHERE t.state = 'running') AS runners
		FROM trials t
		WHERE t.study_id = s.id
	) c
	LEFT JOIN LATERAL (` + fmt.Sprintf(bestSQL, "t.id, t.value") + `
	) b ON true
	` + where + `
	ORDER BY s.id
	` + tail
}

var (
	listSummariesSQL = summarySQL("WHERE s.id > @after_id", "LIMIT @limit")
	oneSummarySQL    = summarySQL("WHERE s.id = @id", "")
)

// CreateStudy stores a validated study. A duplicate name is ErrConflict.
func (s *Store) CreateStudy(ctx context.Context, study trials.Study) (_ *trials.Study, err error) {
	defer wrap(&err, "CreateStudy(%q)", study.Name)
	if err := study.Validate(); err != nil {
		return nil, err
	}
	a := pgx.NamedArgs{
		"name":          study.Name,
		"max_trials":    study.MaxTrials,
		"max_parallel":  study.MaxParallel,
		"max_retries":   study.MaxRetries,
		"lease_seconds": study.LeaseSeconds,
		"state":         string(study.State),
		"created_by":    trials.Actor(ctx),
	}
	docs, err := record.EncodeStudy(study)
	if err != nil {
		return nil, err
	}
	a["objective"] = json.RawMessage(docs.Objective)
	a["search_space"] = json.RawMessage(docs.SearchSpace)
	a["sampler"] = json.RawMessage(docs.Sampler)
	a["pruner"] = json.RawMessage(docs.Pruner)
	a["objectives"] = json.RawMessage(docs.Objectives)
	a["constraints"] = json.RawMessage(docs.Constraints)
	// A nil json.RawMessage would be bound as JSON null: SQL NULL instead.
	a["workload"] = nil
	if docs.Workload != nil {
		a["workload"] = json.RawMessage(docs.Workload)
	}
	var r record.StudyRow
	err = s.pool.QueryRow(ctx, `
		INSERT INTO studies AS s (name, objective, search_space, sampler, pruner, workload,
			max_trials, max_parallel, max_retries, lease_seconds, state, created_at, created_by,
			objectives, constraints)
		VALUES (@name, @objective, @search_space, @sampler, @pruner, @workload,
			@max_trials, @max_parallel, @max_retries, @lease_seconds, @state,
			now() + @clock_offset::interval, @created_by, @objectives, @constraints)
		RETURNING `+record.StudyCols, s.args(a)).Scan(r.Dest(times)...)
	if isUniqueViolation(err, "studies_name_key") {
		return nil, trials.StudyNameTaken(study.Name)
	}
	if err != nil {
		return nil, err
	}
	// Return the study as GetStudy will, decoded from what was stored.
	return r.Study()
}

// GetStudy finds a study by id.
func (s *Store) GetStudy(ctx context.Context, id int64) (_ *trials.Study, err error) {
	defer wrap(&err, "GetStudy(%d)", id)
	var r record.StudyRow
	err = s.pool.QueryRow(ctx, `SELECT `+record.StudyCols+` FROM studies s WHERE s.id = @id`,
		pgx.NamedArgs{"id": id}).Scan(r.Dest(times)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.StudyNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.Study()
}

// GetStudyByName finds a study by its unique name.
func (s *Store) GetStudyByName(ctx context.Context, name string) (_ *trials.Study, err error) {
	defer wrap(&err, "GetStudyByName(%q)", name)
	var r record.StudyRow
	err = s.pool.QueryRow(ctx, `SELECT `+record.StudyCols+` FROM studies s WHERE s.name = @name`,
		pgx.NamedArgs{"name": name}).Scan(r.Dest(times)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.StudyNameNotFound(name)
	}
	if err != nil {
		return nil, err
	}
	return r.Study()
}

// ListStudies returns a page of studies with their counts and best value,
// oldest first, from one query, and whether more follow.
func (s *Store) ListStudies(ctx context.Context, f trials.StudyFilter) (_ []trials.StudySummary, more bool, err error) {
	defer wrap(&err, "ListStudies")
	size := f.PageSize()
	// Fetch one more than the page to learn whether more follow.
	rows, err := s.pool.Query(ctx, listSummariesSQL, pgx.NamedArgs{"after_id": f.AfterID, "limit": size + 1})
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	sums, err := record.ScanSummaries(rows, times)
	return record.Page(sums, size, err)
}

// SummarizeStudy returns one study with its counts and best value.
func (s *Store) SummarizeStudy(ctx context.Context, id int64) (_ *trials.StudySummary, err error) {
	defer wrap(&err, "SummarizeStudy(%d)", id)
	var r record.SummaryRow
	err = s.pool.QueryRow(ctx, oneSummarySQL, pgx.NamedArgs{"id": id}).Scan(r.Dest(times)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.StudyNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.Summary()
}

// SetStudyState pauses, resumes or stops a study. Every change is allowed,
// done back to running included, so that a study stopped by hand can be
// resumed. (One that is done because it reached max_trials can be resumed
// too, but has no trial left to hand out.)
func (s *Store) SetStudyState(ctx context.Context, id int64, state trials.StudyState) (_ *trials.Study, err error) {
	defer wrap(&err, "SetStudyState(%d, %q)", id, state)
	if err := state.Validate(); err != nil {
		return nil, err
	}
	var r record.StudyRow
	err = s.pool.QueryRow(ctx, `
		UPDATE studies s SET state = @state WHERE s.id = @id
		RETURNING `+record.StudyCols,
		pgx.NamedArgs{"id": id, "state": string(state)}).Scan(r.Dest(times)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trials.StudyNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return r.Study()
}

// LeasableStudies returns running studies with one of the workload types
// that could hand out a trial now, the study with the fewest running trials
// first, then the oldest, so that runners spread over studies. It is a hint:
// the claim that follows re-checks everything under the study's lock.
func (s *Store) LeasableStudies(ctx context.Context, workloads []string) (_ []trials.Study, err error) {
	defer wrap(&err, "LeasableStudies(%q)", workloads)
	if len(workloads) == 0 {
		return []trials.Study{}, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+record.StudyCols+`
		FROM studies s
		CROSS JOIN LATERAL (
			SELECT count(*) AS running FROM trials t WHERE t.study_id = s.id AND t.state = 'running'
		) r
		WHERE s.state = 'running'
			AND s.workload->>'type' = ANY(@workloads)
			AND (s.max_parallel = 0 OR r.running < s.max_parallel)
			AND (s.max_trials = 0 OR s.next_number < s.max_trials
				OR EXISTS (SELECT 1 FROM trials w WHERE w.study_id = s.id AND w.state = 'waiting'))
		ORDER BY r.running, s.created_at, s.id`,
		pgx.NamedArgs{"workloads": workloads})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return record.ScanStudies(rows, times)
}

// DeleteStudy removes a study; its trials go with it (ON DELETE CASCADE).
func (s *Store) DeleteStudy(ctx context.Context, id int64) (err error) {
	defer wrap(&err, "DeleteStudy(%d)", id)
	tag, err := s.pool.Exec(ctx, `DELETE FROM studies WHERE id = @id`, pgx.NamedArgs{"id": id})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return trials.StudyNotFound(id)
	}
	return nil
}
