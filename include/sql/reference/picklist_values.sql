-- The object's picklist values as describe reports them (replaced whole per object).
INSERT INTO crm_mapping.picklist_values (object, field, value, label, active)
SELECT %(object)s, * FROM unnest(%(fields)s::text[], %(values)s::text[], %(labels)s::text[], %(active)s::boolean[])
