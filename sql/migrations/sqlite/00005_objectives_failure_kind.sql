-- +goose Up
-- A study's objectives and constraints, and a failed trial's kind, as
-- postgres/00007 keeps them.
ALTER TABLE studies ADD COLUMN objectives TEXT NOT NULL DEFAULT '[]'
    CHECK (json_type(objectives) = 'array');
ALTER TABLE studies ADD COLUMN constraints TEXT NOT NULL DEFAULT '[]'
    CHECK (json_type(constraints) = 'array');
ALTER TABLE trials ADD COLUMN failure_kind TEXT NOT NULL DEFAULT ''
    CHECK (failure_kind IN ('', 'oom', 'diverged', 'timeout', 'error', 'preempted')
        AND (failure_kind = '' OR state = 'failed'));

-- +goose Down
ALTER TABLE trials DROP COLUMN failure_kind;
ALTER TABLE studies DROP COLUMN constraints;
ALTER TABLE studies DROP COLUMN objectives;
