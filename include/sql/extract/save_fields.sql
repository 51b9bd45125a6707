-- The object's fields as described now (replacing the previous describe).
INSERT INTO crm_sync.object_fields (object, field, type)
SELECT %(object)s, * FROM unnest(%(fields)s::text[], %(types)s::text[])
