-- The object's fields as described now, replacing the previous describe. An upsert, not a
-- delete and insert: two runs of one object describing at once (two record syncs, a record
-- sync during a differential) then wait for each other instead of colliding on the key.
-- Fields gone from the describe are removed by the statement after it.
INSERT INTO crm_sync.object_fields AS f (object, field, type)
SELECT %(object)s, * FROM unnest(%(fields)s::text[], %(types)s::text[])
ON CONFLICT (object, field) DO UPDATE SET type = EXCLUDED.type, seen_at = now()
