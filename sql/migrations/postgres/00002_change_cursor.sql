-- +goose Up

-- xid is the id of the transaction that last wrote the trial (the 64-bit,
-- never wrapping pg_current_xact_id()). TrialsChangedSince reads a study's
-- trials with xid >= a cursor, and the next cursor is the xmin of the
-- snapshot it read them with: every transaction below it had finished when
-- the read began, so nothing is missed, and only what changed since (plus
-- the few writes in flight at the time) is read again.
--
-- Trials written before this migration keep xid 0: a reader that starts
-- from cursor 0 reads them, and every cursor handed out after the migration
-- is above the transactions that wrote them. The column is added with a
-- constant default (no table rewrite) and given its real default after.
ALTER TABLE trials ADD COLUMN xid bigint NOT NULL DEFAULT 0;
ALTER TABLE trials ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint);

-- Every update restamps the row, so no write path can forget to; inserts
-- get the column's default.
-- +goose StatementBegin
CREATE FUNCTION trials_stamp_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER trials_stamp_xid BEFORE UPDATE ON trials
    FOR EACH ROW EXECUTE FUNCTION trials_stamp_xid();

-- Incremental reads of a study's history (TrialsChangedSince), which no
-- longer go by updated_at.
CREATE INDEX trials_study_xid_idx ON trials (study_id, xid);
DROP INDEX trials_study_updated_idx;

-- +goose Down
CREATE INDEX trials_study_updated_idx ON trials (study_id, updated_at);
DROP INDEX trials_study_xid_idx;
DROP TRIGGER trials_stamp_xid ON trials;
DROP FUNCTION trials_stamp_xid();
ALTER TABLE trials DROP COLUMN xid;
