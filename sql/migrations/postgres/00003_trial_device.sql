-- +goose Up
-- The device a trial ran on ("cpu", "cuda:0"), as its runner told it.
ALTER TABLE trials ADD COLUMN device text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN device;
