-- Sticky values (`both` fields with `true_wins`, such as the opt-out, or `set_wins`, such as the
-- hard bounce: "the flag" below is a true flag or any value) reach every record of a
-- person. Run in a people load before `people_upsert.sql`, so the person's value is still the
-- one before this batch: a person is queued for the write-back (`crm_outbox`, as if the
-- marketing side had changed the flag) when
--   * the incoming record carries the flag and the person does not yet, while another record
--     is linked to the person: that record lacks it; or
--   * the person has the flag and the incoming record does not: this record lacks it.
-- The write-back then writes `true` to each of the person's linked records. Once every record
-- has it, nothing is queued again: no echo, and a second cycle writes nothing.
-- Placeholders: {fields} (an array expression: each flag's name when that record lacks it,
-- from `i` and `p`; built by `writeback/sticky.py`). Runs with crm_sync.origin = 'crm'.
WITH lacking AS (
    SELECT p.id, f.field
      FROM incoming i
      JOIN people p ON p.email = i.email
     CROSS JOIN LATERAL unnest({fields}) AS f(field)
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND p.archived_at IS NULL AND f.field IS NOT NULL
), queued AS (
    SELECT id, array_agg(DISTINCT field ORDER BY field) AS fields FROM lacking GROUP BY id
)
INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
SELECT 'people', q.id, nextval('crm_outbox_seq'), q.fields, '{{}}', false, clock_timestamp(), clock_timestamp()
  FROM queued q
ON CONFLICT (tbl, row_id) DO UPDATE
   SET change_seq = EXCLUDED.change_seq,
       fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
       last_changed_at = EXCLUDED.last_changed_at
