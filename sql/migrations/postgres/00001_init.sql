-- +goose Up

-- A study is one search. Its configuration is kept as JSON documents shaped
-- like the trials package's types, so adding an option needs no migration.
-- next_number is the per-study trial counter: it is bumped in the same
-- transaction that inserts a trial, which keeps trial numbers gapless and
-- unique, and it doubles as the count that max_trials is checked against.
CREATE TABLE studies (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    objective     jsonb NOT NULL,
    search_space  jsonb NOT NULL,
    sampler       jsonb NOT NULL,
    pruner        jsonb NOT NULL,
    workload      jsonb,
    max_trials    integer NOT NULL DEFAULT 0,
    max_parallel  integer NOT NULL DEFAULT 0,
    max_retries   integer NOT NULL DEFAULT 0,
    lease_seconds integer NOT NULL DEFAULT 60,
    state         text NOT NULL DEFAULT 'running',
    next_number   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT studies_name_key UNIQUE (name),
    CONSTRAINT studies_state_check CHECK (state IN ('running', 'paused', 'done')),
    CONSTRAINT studies_limits_check CHECK (
        max_trials >= 0 AND max_parallel >= 0 AND max_retries >= 0
        AND lease_seconds > 0 AND next_number >= 0
    ),
    -- The counter never passes the cap: a bug that did would show up here
    -- rather than as a study with too many trials.
    CONSTRAINT studies_next_number_check CHECK (max_trials = 0 OR next_number <= max_trials),
    CONSTRAINT studies_json_check CHECK (
        jsonb_typeof(objective) = 'object' AND jsonb_typeof(search_space) = 'object'
        AND jsonb_typeof(sampler) = 'object' AND jsonb_typeof(pruner) = 'object'
        AND (workload IS NULL OR jsonb_typeof(workload) = 'object')
    )
);

-- A trial is one evaluation of one configuration. lease is the token of the
-- current grant: it grows on every grant, and every write a runner makes is
-- conditional on it. updated_at is set from clock_timestamp() on every write
-- so that readers can fetch only what changed.
CREATE TABLE trials (
    id               bigserial PRIMARY KEY,
    study_id         bigint NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number           integer NOT NULL,
    state            text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}',
    value            double precision,
    intermediate     jsonb NOT NULL DEFAULT '[]',
    metrics          jsonb NOT NULL DEFAULT '{}',
    system_attrs     jsonb NOT NULL DEFAULT '{}',
    attempt          integer NOT NULL DEFAULT 0,
    runner           text NOT NULL DEFAULT '',
    lease            bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    error            text NOT NULL DEFAULT '',
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),

    CONSTRAINT trials_study_number_key UNIQUE (study_id, number),
    CONSTRAINT trials_state_check CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'failed')),
    CONSTRAINT trials_number_check CHECK (number >= 0 AND attempt >= 0 AND lease >= 0),
    -- Only running trials hold a lease; only finished trials have finished.
    CONSTRAINT trials_lease_check CHECK ((state = 'running') = (lease_expires_at IS NOT NULL)),
    CONSTRAINT trials_finished_check CHECK (
        (state IN ('complete', 'pruned', 'failed')) = (finished_at IS NOT NULL)
    ),
    CONSTRAINT trials_value_check CHECK (state <> 'complete' OR value IS NOT NULL),
    -- JSON cannot carry NaN or Inf; neither may the table.
    CONSTRAINT trials_value_finite_check CHECK (
        value IS NULL OR value NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)
    ),
    CONSTRAINT trials_json_check CHECK (
        jsonb_typeof(params) = 'object' AND jsonb_typeof(intermediate) = 'array'
        AND jsonb_typeof(metrics) = 'object' AND jsonb_typeof(system_attrs) = 'object'
    )
);

-- Claiming: the oldest waiting trial of a study.
CREATE INDEX trials_waiting_idx ON trials (study_id, number) WHERE state = 'waiting';
-- The reaper: running trials whose lease expired, across all studies.
CREATE INDEX trials_running_expiry_idx ON trials (lease_expires_at) WHERE state = 'running';
-- Incremental reads of a study's history (TrialsChangedSince).
CREATE INDEX trials_study_updated_idx ON trials (study_id, updated_at);
-- Counts per state, pages filtered by state, running trials per study.
CREATE INDEX trials_study_state_number_idx ON trials (study_id, state, number);
-- The best complete trial of a study, in either direction, without sorting
-- its history. Complete trials never change, so this costs one insert each.
CREATE INDEX trials_study_best_idx ON trials (study_id, value) WHERE state = 'complete';

-- +goose Down
DROP TABLE trials;
DROP TABLE studies;
