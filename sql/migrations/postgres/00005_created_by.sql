-- +goose Up
-- The name of the token that created a study or trial, and of the token
-- (or "reaper") that finished a trial; '' where nobody was authenticated
-- (an --insecure server) and for rows written before this migration.
ALTER TABLE studies ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN finished_by text NOT NULL DEFAULT '';
-- The name of the token that holds a running trial's current lease: a
-- runner token may work only on the trials it holds.
ALTER TABLE trials ADD COLUMN held_by text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN held_by;
ALTER TABLE trials DROP COLUMN finished_by;
ALTER TABLE trials DROP COLUMN created_by;
ALTER TABLE studies DROP COLUMN created_by;
