-- +goose Up
-- The name of the token that created a study or trial, and of the token
-- (or "reaper") that finished a trial; '' where nobody was authenticated
-- (an --insecure server) and for rows written before this migration.
ALTER TABLE studies ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN finished_by text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN finished_by;
ALTER TABLE trials DROP COLUMN created_by;
ALTER TABLE studies DROP COLUMN created_by;
