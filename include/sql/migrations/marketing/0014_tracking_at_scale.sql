-- Change tracking at any batch size: crm_track_changes (0002) again, with what it records
-- unchanged and three costs taken out.
--
-- * A marketing-side INSERT looked each new row's changed columns up in the whole set of
--   changed columns (a correlated sub-select): quadratic, 28 s for 8,000 rows, hours for a
--   list import of 100,000. The columns are now grouped once and joined.
-- * The transition tables have no statistics, and PL/pgSQL keeps the plan a statement got
--   at an early firing, often over a handful of rows. A large load (a Lead full sync after
--   a million Contacts) then joined two tables of 60,000 rows in a nested loop, for tens of
--   minutes inside the load's upsert. Nested loops are off inside the function: every join
--   here is between whole sets, where a hash join is right at any size.
-- * An inbound load's update looks for pending marketing changes only when the table has
--   some, and each row is turned into JSON once rather than once per column.
CREATE OR REPLACE FUNCTION crm_track_changes() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off
AS $$
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
        IF NOT EXISTS (SELECT 1 FROM crm_outbox WHERE tbl = TG_TABLE_NAME) THEN
            RETURN NULL;
        END IF;
        -- Salesforce's value replaced a column that has a pending marketing change: that
        -- value is now the one both sides agree on (the base of the pending change).
        UPDATE crm_outbox o
           SET base = o.base || r.rebased
          FROM (SELECT v.row_id, jsonb_object_agg(e.key, e.value) AS rebased
                  FROM (SELECT n.id AS row_id, p.fields, to_jsonb(n) AS new_row, to_jsonb(d) AS old_row
                          FROM crm_new_rows n
                          JOIN crm_outbox p ON p.tbl = TG_TABLE_NAME AND p.row_id = n.id
                          JOIN crm_old_rows d ON d.id = n.id
                        OFFSET 0) v
                 CROSS JOIN LATERAL jsonb_each(v.new_row) e
                 WHERE e.key = ANY (v.fields) AND e.value IS DISTINCT FROM v.old_row -> e.key
                 GROUP BY v.row_id) r
         WHERE o.tbl = TG_TABLE_NAME AND o.row_id = r.row_id;
        RETURN NULL;
    END IF;

    IF TG_OP = 'INSERT' THEN
        WITH changed AS (
            SELECT n.id AS row_id, e.key AS field
              FROM crm_new_rows n
             CROSS JOIN LATERAL jsonb_each(to_jsonb(n)) e
             WHERE e.value <> 'null'::jsonb AND NOT e.key = ANY (managed)
        ), per_row AS (
            SELECT row_id, array_agg(field ORDER BY field) AS fields FROM changed GROUP BY row_id
        ), stamped AS (
            INSERT INTO crm_field_changes (tbl, row_id, field, changed_at)
            SELECT TG_TABLE_NAME, row_id, field, stamp FROM changed
            ON CONFLICT (tbl, row_id, field) DO UPDATE SET changed_at = EXCLUDED.changed_at
        )
        INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
        SELECT TG_TABLE_NAME, n.id, nextval('crm_outbox_seq'), COALESCE(r.fields, '{}'), '{}', true, stamp, stamp
          FROM crm_new_rows n
          LEFT JOIN per_row r ON r.row_id = n.id
        ON CONFLICT (tbl, row_id) DO UPDATE
           SET change_seq = EXCLUDED.change_seq, fields = EXCLUDED.fields, base = '{}', is_new = true,
               last_changed_at = EXCLUDED.last_changed_at;
        RETURN NULL;
    END IF;

    WITH pairs AS MATERIALIZED (
        SELECT n.id AS row_id, to_jsonb(n) AS new_row, to_jsonb(d) AS old_row
          FROM crm_new_rows n
          JOIN crm_old_rows d ON d.id = n.id
    ), changed AS (
        SELECT v.row_id, e.key AS field, v.old_row -> e.key AS old_value
          FROM pairs v
         CROSS JOIN LATERAL jsonb_each(v.new_row) e
         WHERE NOT e.key = ANY (managed) AND e.value IS DISTINCT FROM v.old_row -> e.key
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
