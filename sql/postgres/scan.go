package postgres

import (
	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// studyCols are the columns scanStudy reads, from studies aliased s.
const studyCols = `s.id, s.name, s.objective, s.search_space, s.sampler, s.pruner, s.workload,
	s.max_trials, s.max_parallel, s.max_retries, s.lease_seconds, s.state, s.created_at`

// studyRow receives studyCols; the JSON documents are decoded afterwards.
type studyRow struct {
	st    trials.Study
	state string
	docs  record.StudyDocs
}

func (r *studyRow) dest() []any {
	return []any{&r.st.ID, &r.st.Name, &r.docs.Objective, &r.docs.SearchSpace, &r.docs.Sampler, &r.docs.Pruner,
		&r.docs.Workload, &r.st.MaxTrials, &r.st.MaxParallel, &r.st.MaxRetries, &r.st.LeaseSeconds, &r.state,
		&r.st.CreatedAt}
}

func (r *studyRow) study() (*trials.Study, error) {
	st := r.st
	st.State = trials.StudyState(r.state)
	if err := r.docs.Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// trialCols are the columns trialRow reads, from trials aliased t.
const trialCols = `t.id, t.study_id, t.number, t.state, t.params, t.value, t.intermediate, t.metrics,
	t.system_attrs, t.attempt, t.runner, t.lease, t.lease_expires_at, t.created_at, t.started_at,
	t.finished_at, t.error, t.updated_at, t.device`

// trialRow receives trialCols. Its params can only be decoded with the
// study's search space at hand, so decoding is a second step.
type trialRow struct {
	t     trials.Trial
	state string
	docs  record.TrialDocs
}

func (r *trialRow) dest() []any {
	return []any{&r.t.ID, &r.t.StudyID, &r.t.Number, &r.state, &r.docs.Params, &r.t.Value, &r.docs.Intermediate,
		&r.docs.Metrics, &r.docs.SystemAttrs, &r.t.Attempt, &r.t.Runner, &r.t.Lease, &r.t.LeaseExpiresAt,
		&r.t.CreatedAt, &r.t.StartedAt, &r.t.FinishedAt, &r.t.Error, &r.t.UpdatedAt, &r.t.Device}
}

// trial decodes the row (see record.TrialDocs.Decode).
func (r *trialRow) trial(space trials.SearchSpace) (*trials.Trial, error) {
	t := r.t
	t.State = trials.TrialState(r.state)
	if err := r.docs.Decode(&t, space); err != nil {
		return nil, err
	}
	return &t, nil
}
