-- +goose Up
-- Who created a study or trial and who finished a trial, as
-- postgres/00005 keeps them.
ALTER TABLE studies ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN finished_by TEXT NOT NULL DEFAULT '';
-- The name of the token that holds a running trial's current lease: a
-- runner token may work only on the trials it holds.
ALTER TABLE trials ADD COLUMN held_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN held_by;
ALTER TABLE trials DROP COLUMN finished_by;
ALTER TABLE trials DROP COLUMN created_by;
ALTER TABLE studies DROP COLUMN created_by;
