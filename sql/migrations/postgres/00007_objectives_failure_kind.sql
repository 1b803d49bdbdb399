-- +goose Up
-- A multi-objective study lists its objectives (trials.Objective, two or
-- more; its objective column then holds the zero objective), and any study
-- may bound metrics with constraints (trials.Constraint). Both are JSON
-- arrays shaped like the trials package's types; studies made before
-- have neither ('[]').
ALTER TABLE studies
    ADD COLUMN objectives jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN constraints jsonb NOT NULL DEFAULT '[]',
    ADD CONSTRAINT studies_goals_json_check CHECK (
        jsonb_typeof(objectives) = 'array' AND jsonb_typeof(constraints) = 'array'
    );

-- Why a failed trial failed (trials.FailureKind); '' for the others, and
-- for trials that failed before kinds existed.
ALTER TABLE trials
    ADD COLUMN failure_kind text NOT NULL DEFAULT '',
    ADD CONSTRAINT trials_failure_kind_check CHECK (
        failure_kind IN ('', 'oom', 'diverged', 'timeout', 'error', 'preempted')
        AND (failure_kind = '' OR state = 'failed')
    );

-- +goose Down
ALTER TABLE trials DROP COLUMN failure_kind;
ALTER TABLE studies DROP COLUMN constraints, DROP COLUMN objectives;
