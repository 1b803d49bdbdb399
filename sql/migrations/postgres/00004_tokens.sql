-- +goose Up
-- API tokens. Only the SHA-256 of a secret is kept: the secret itself is
-- shown once, when the token is created. scopes is a comma-separated list
-- (admin, write, read, runner). A name is unique among live tokens, so a
-- revoked token's name can be given again.
CREATE TABLE tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    scopes       text NOT NULL,
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT tokens_hash_key UNIQUE (hash)
);
CREATE UNIQUE INDEX tokens_live_name_key ON tokens (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE tokens;
