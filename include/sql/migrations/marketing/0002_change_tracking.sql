-- Change tracking for the write-back to Salesforce (docs/writeback.md).
--
-- Every insert or update of a synced table made by anyone but the sync itself is recorded:
--   crm_outbox         one row per changed marketing row still to be written back: which
--                      columns changed, their values before the first pending change (the
--                      base, what Salesforce last agreed with), and a sequence number that
--                      moves on with every new change so the write-back only clears what it saw.
--   crm_field_changes  when each column of each row last changed on the marketing side
--                      (kept after the write-back: `latest_wins` compares it with Salesforce's
--                      SystemModstamp on both paths).
-- The sync marks its own transactions: `SET LOCAL crm_sync.origin = 'crm'` (inbound loads:
-- not recorded, but a pending change they overwrite is rebased on the new value) or
-- 'writeback' (the write-back's own links back to Salesforce: ignored). So a record the
-- write-back touched comes back through the next differential without echoing.

CREATE SEQUENCE crm_outbox_seq;

CREATE TABLE crm_outbox (
    tbl               text        NOT NULL,               -- marketing table
    row_id            bigint      NOT NULL,               -- its id
    change_seq        bigint      NOT NULL,               -- last change; the write-back clears only this one
    fields            text[]      NOT NULL,               -- columns changed since the last write-back
    base              jsonb       NOT NULL DEFAULT '{}',  -- their values before the first pending change
    is_new            boolean     NOT NULL DEFAULT false, -- the row was created on the marketing side
    first_changed_at  timestamptz NOT NULL,
    last_changed_at   timestamptz NOT NULL,
    PRIMARY KEY (tbl, row_id)
);
CREATE INDEX crm_outbox_pending ON crm_outbox (tbl, change_seq);

CREATE TABLE crm_field_changes (
    tbl         text        NOT NULL,
    row_id      bigint      NOT NULL,
    field       text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (tbl, row_id, field)
);

-- Statement-level, over the transition tables: one set-based pass per statement, whatever
-- the number of rows (an inbound load of 100,000 rows costs one join with crm_outbox).
CREATE FUNCTION crm_track_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    origin  text := coalesce(current_setting('crm_sync.origin', true), '');
    -- Columns the sync manages itself: never marketing edits.
    managed text[] := ARRAY['id', 'sf_id', 'lead_sf_id', 'contact_sf_id', 'sf_object',
                            'archived_at', 'archive_reason', 'created_at', 'updated_at'];
    stamp   timestamptz := clock_timestamp();
BEGIN
    IF origin = 'writeback' OR (origin = 'crm' AND TG_OP = 'INSERT') THEN
        RETURN NULL;
    END IF;

    IF origin = 'crm' THEN
        -- Salesforce's value replaced a column that has a pending marketing change: that
        -- value is now the one both sides agree on (the base of the pending change).
        UPDATE crm_outbox o
           SET base = o.base || r.rebased
          FROM (SELECT n.id AS row_id, jsonb_object_agg(e.key, e.value) AS rebased
                  FROM crm_new_rows n
                  JOIN crm_outbox p ON p.tbl = TG_TABLE_NAME AND p.row_id = n.id
                  JOIN crm_old_rows d ON d.id = n.id
                 CROSS JOIN LATERAL jsonb_each(to_jsonb(n)) e
                 WHERE e.key = ANY (p.fields) AND e.value IS DISTINCT FROM to_jsonb(d) -> e.key
                 GROUP BY n.id) r
         WHERE o.tbl = TG_TABLE_NAME AND o.row_id = r.row_id;
        RETURN NULL;
    END IF;

    IF TG_OP = 'INSERT' THEN
        WITH changed AS (
            SELECT n.id AS row_id, e.key AS field, 'null'::jsonb AS old_value
              FROM crm_new_rows n
             CROSS JOIN LATERAL jsonb_each(to_jsonb(n)) e
             WHERE e.value <> 'null'::jsonb AND NOT e.key = ANY (managed)
        ), stamped AS (
            INSERT INTO crm_field_changes (tbl, row_id, field, changed_at)
            SELECT TG_TABLE_NAME, row_id, field, stamp FROM changed
            ON CONFLICT (tbl, row_id, field) DO UPDATE SET changed_at = EXCLUDED.changed_at
        )
        INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
        SELECT TG_TABLE_NAME, n.id, nextval('crm_outbox_seq'),
               COALESCE((SELECT array_agg(c.field ORDER BY c.field) FROM changed c WHERE c.row_id = n.id), '{}'),
               '{}', true, stamp, stamp
          FROM crm_new_rows n
        ON CONFLICT (tbl, row_id) DO UPDATE
           SET change_seq = EXCLUDED.change_seq, fields = EXCLUDED.fields, base = '{}', is_new = true,
               last_changed_at = EXCLUDED.last_changed_at;
        RETURN NULL;
    END IF;

    WITH changed AS (
        SELECT n.id AS row_id, e.key AS field, to_jsonb(d) -> e.key AS old_value
          FROM crm_new_rows n
          JOIN crm_old_rows d ON d.id = n.id
         CROSS JOIN LATERAL jsonb_each(to_jsonb(n)) e
         WHERE NOT e.key = ANY (managed) AND e.value IS DISTINCT FROM to_jsonb(d) -> e.key
    ), per_row AS (
        SELECT row_id, array_agg(field ORDER BY field) AS fields, jsonb_object_agg(field, old_value) AS base
          FROM changed GROUP BY row_id
    ), stamped AS (
        INSERT INTO crm_field_changes (tbl, row_id, field, changed_at)
        SELECT TG_TABLE_NAME, row_id, field, stamp FROM changed
        ON CONFLICT (tbl, row_id, field) DO UPDATE SET changed_at = EXCLUDED.changed_at
    )
    INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
    SELECT TG_TABLE_NAME, row_id, nextval('crm_outbox_seq'), fields, base, false, stamp, stamp FROM per_row
    ON CONFLICT (tbl, row_id) DO UPDATE
       SET change_seq = EXCLUDED.change_seq,
           fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
           base = EXCLUDED.base || o.base,      -- the value before the first pending change stays
           last_changed_at = EXCLUDED.last_changed_at;
    RETURN NULL;
END
$$;

-- Tracking on the built-in tables; the write-back's prepare step adds it to custom targets
-- (include/sql/writeback/track_table.sql).
CREATE TRIGGER crm_track_insert AFTER INSERT ON people
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_update AFTER UPDATE ON people
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_insert AFTER INSERT ON accounts
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_update AFTER UPDATE ON accounts
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_insert AFTER INSERT ON opportunities
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_update AFTER UPDATE ON opportunities
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_insert AFTER INSERT ON campaigns
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE TRIGGER crm_track_update AFTER UPDATE ON campaigns
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
