-- After the set-up command created `to_crm` fields in Salesforce: the marketing values those
-- fields could not take until now are queued for the write-back (`crm_outbox`, as if the
-- marketing side had just changed them), so the next write-back writes them. Only rows linked
-- to a record of the object; a second run of the set-up command creates nothing and queues
-- nothing.
-- Placeholders: {table}, {link} (the object's link column), {fields} (an array expression:
-- each created field's column name when the row has a value, built by `setup_fields.py`).
WITH wanted AS (
    SELECT t.id, ARRAY(SELECT f FROM unnest({fields}) AS f WHERE f IS NOT NULL ORDER BY f) AS fields
      FROM {table} t
     WHERE t.{link} IS NOT NULL AND t.archived_at IS NULL
), queued AS (
    INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
    SELECT %(table)s, w.id, nextval('crm_outbox_seq'), w.fields, '{{}}', false, clock_timestamp(), clock_timestamp()
      FROM wanted w
     WHERE cardinality(w.fields) > 0
    ON CONFLICT (tbl, row_id) DO UPDATE
       SET change_seq = EXCLUDED.change_seq,
           fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
           last_changed_at = EXCLUDED.last_changed_at
    RETURNING 1
)
SELECT count(*) FROM queued
