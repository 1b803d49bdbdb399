-- +goose Up
-- What decided a trial's params, as postgres/00005 keeps it.
ALTER TABLE trials ADD COLUMN origin TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN origin;
