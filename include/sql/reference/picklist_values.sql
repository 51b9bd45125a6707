-- The object's picklist values as describe reports them: an upsert (see
-- extract/save_fields.sql: runs of one object describing at once wait, never collide);
-- values gone from the describe are removed by the statement after it.
INSERT INTO crm_mapping.picklist_values AS p (object, field, value, label, active)
SELECT %(object)s, * FROM unnest(%(fields)s::text[], %(values)s::text[], %(labels)s::text[], %(active)s::boolean[])
ON CONFLICT (object, field, value) DO UPDATE
   SET label = EXCLUDED.label, active = EXCLUDED.active, refreshed_at = now()
