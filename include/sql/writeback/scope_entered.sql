-- People who entered a scope's segment since the last write-back: queued (crm_outbox) with
-- the fields the scoped mappings write that hold a value, plus `email` for a person with no
-- Salesforce record yet (so the write-back creates it where a mapping may), as if the
-- marketing side had just changed them; then marked queued. Active people only.
-- Parameters: segments, fields (the written columns of the scoped mappings).
WITH entered AS (
    UPDATE crm_segment_members m
       SET queued_at = clock_timestamp()
      FROM people p
     WHERE m.segment = ANY (%(segments)s::text[]) AND m.queued_at IS NULL
       AND p.id = m.person_id AND p.archived_at IS NULL
 RETURNING p.*
), queued AS (
    SELECT DISTINCT ON (e.id) e.id,
           ARRAY(SELECT f FROM unnest(%(fields)s::text[]) AS f
                  WHERE to_jsonb(e) ->> f IS NOT NULL
                 UNION SELECT 'email' WHERE e.lead_sf_id IS NULL AND e.contact_sf_id IS NULL
                 ORDER BY 1) AS fields
      FROM entered e
)
INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
SELECT 'people', q.id, nextval('crm_outbox_seq'), q.fields, '{}', false, clock_timestamp(), clock_timestamp()
  FROM queued q
 WHERE cardinality(q.fields) > 0
ON CONFLICT (tbl, row_id) DO UPDATE
   SET change_seq = EXCLUDED.change_seq,
       fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
       last_changed_at = EXCLUDED.last_changed_at
