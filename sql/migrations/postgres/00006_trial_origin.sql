-- +goose Up
-- What decided a trial's params (trials.Origin): a sampler ("startup",
-- "tpe", "cmaes", "random", "qmc"), "enqueued" or "recorded". Trials made
-- before this column existed say nothing ('').
ALTER TABLE trials ADD COLUMN origin text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE trials DROP COLUMN origin;
