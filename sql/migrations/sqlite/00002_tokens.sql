-- +goose Up
-- API tokens, as postgres/00004 keeps them: only the SHA-256 of a secret,
-- scopes as a comma-separated list, names unique among live tokens; times
-- in nanoseconds since the Unix epoch.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;
CREATE UNIQUE INDEX tokens_live_name_key ON tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE tokens;
