-- +goose Up

-- The embedded store's schema: the PostgreSQL schema (postgres/00001 to
-- 00003) as SQLite can say it. STRICT tables enforce column types as
-- PostgreSQL does; JSON documents are TEXT checked with json_type; times
-- are INTEGER nanoseconds since the Unix epoch, UTC, from the process
-- clock (the embedded database has no clock of its own that the service
-- could move in tests).
--
-- A study is one search. next_number is the per-study trial counter: it is
-- bumped in the same transaction that inserts a trial, which keeps trial
-- numbers gapless and unique, and it doubles as the count that max_trials
-- is checked against. AUTOINCREMENT keeps ids of deleted studies from
-- being handed out again, as PostgreSQL's sequences do.
CREATE TABLE studies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    objective     TEXT NOT NULL,
    search_space  TEXT NOT NULL,
    sampler       TEXT NOT NULL,
    pruner        TEXT NOT NULL,
    workload      TEXT,
    max_trials    INTEGER NOT NULL DEFAULT 0,
    max_parallel  INTEGER NOT NULL DEFAULT 0,
    max_retries   INTEGER NOT NULL DEFAULT 0,
    lease_seconds INTEGER NOT NULL DEFAULT 60,
    state         TEXT NOT NULL DEFAULT 'running',
    next_number   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,

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
        json_type(objective) = 'object' AND json_type(search_space) = 'object'
        AND json_type(sampler) = 'object' AND json_type(pruner) = 'object'
        AND (workload IS NULL OR json_type(workload) = 'object')
    )
) STRICT;

-- A trial is one evaluation of one configuration. lease is the token of the
-- current grant: it grows on every grant, and every write a runner makes is
-- conditional on it. seq is the change sequence number of the trial's last
-- write (see change_seq).
CREATE TABLE trials (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id         INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    state            TEXT NOT NULL,
    params           TEXT NOT NULL DEFAULT '{}',
    value            REAL,
    intermediate     TEXT NOT NULL DEFAULT '[]',
    metrics          TEXT NOT NULL DEFAULT '{}',
    system_attrs     TEXT NOT NULL DEFAULT '{}',
    attempt          INTEGER NOT NULL DEFAULT 0,
    runner           TEXT NOT NULL DEFAULT '',
    lease            INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    error            TEXT NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL,
    device           TEXT NOT NULL DEFAULT '',
    seq              INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT trials_study_number_key UNIQUE (study_id, number),
    CONSTRAINT trials_state_check CHECK (state IN ('waiting', 'running', 'complete', 'pruned', 'failed')),
    CONSTRAINT trials_number_check CHECK (number >= 0 AND attempt >= 0 AND lease >= 0),
    -- Only running trials hold a lease; only finished trials have finished.
    CONSTRAINT trials_lease_check CHECK ((state = 'running') = (lease_expires_at IS NOT NULL)),
    CONSTRAINT trials_finished_check CHECK (
        (state IN ('complete', 'pruned', 'failed')) = (finished_at IS NOT NULL)
    ),
    CONSTRAINT trials_value_check CHECK (state <> 'complete' OR value IS NOT NULL),
    -- JSON cannot carry NaN or Inf; neither may the table. (SQLite stores
    -- NaN as NULL; 9e999 is how it spells infinity.)
    CONSTRAINT trials_value_finite_check CHECK (value IS NULL OR value NOT IN (9e999, -9e999)),
    CONSTRAINT trials_json_check CHECK (
        json_type(params) = 'object' AND json_type(intermediate) = 'array'
        AND json_type(metrics) = 'object' AND json_type(system_attrs) = 'object'
    )
) STRICT;

-- change_seq is the database's change counter, one row. Every write of a
-- trial bumps it and stamps the trial with the new value. SQLite admits one
-- write transaction at a time (across processes too), so sequence numbers
-- are handed out in commit order: whatever a reader's snapshot does not
-- contain will be stamped above the counter value in that snapshot. That
-- makes the counter, read in the same snapshot as the trials, an exact
-- cursor for TrialsChangedSince. It starts at 1 so that every cursor handed
-- out is positive; trials stamped from then on are above it.
CREATE TABLE change_seq (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO change_seq (id, value) VALUES (1, 1);

-- Triggers stamp every insert and update, so no write path can forget to.
-- The stamp itself is an UPDATE of the trial, which fires the update
-- trigger only when it is not already on the trigger stack (SQLite's
-- recursive_triggers is off by default and the store never turns it on);
-- the WHEN clause keeps the insert trigger's stamp from being counted
-- twice. The store never writes seq itself.
-- +goose StatementBegin
CREATE TRIGGER trials_stamp_insert AFTER INSERT ON trials
BEGIN
    UPDATE change_seq SET value = value + 1 WHERE id = 1;
    UPDATE trials SET seq = (SELECT value FROM change_seq WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER trials_stamp_update AFTER UPDATE ON trials
WHEN NEW.seq = OLD.seq
BEGIN
    UPDATE change_seq SET value = value + 1 WHERE id = 1;
    UPDATE trials SET seq = (SELECT value FROM change_seq WHERE id = 1) WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- Claiming: the oldest waiting trial of a study.
CREATE INDEX trials_waiting_idx ON trials (study_id, number) WHERE state = 'waiting';
-- The reaper: running trials whose lease expired, across all studies.
CREATE INDEX trials_running_expiry_idx ON trials (lease_expires_at) WHERE state = 'running';
-- Incremental reads of a study's history (TrialsChangedSince).
CREATE INDEX trials_study_seq_idx ON trials (study_id, seq);
-- Counts per state, pages filtered by state, running trials per study.
CREATE INDEX trials_study_state_number_idx ON trials (study_id, state, number);
-- The best complete trial of a study, in either direction.
CREATE INDEX trials_study_best_idx ON trials (study_id, value) WHERE state = 'complete';

-- +goose Down
DROP TABLE trials;
DROP TABLE change_seq;
DROP TABLE studies;
