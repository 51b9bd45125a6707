-- The object's picklist values, as the warehouse last saw them in describe (replaced whole per object).
INSERT INTO crm_picklist_values (object, field, value, label, active)
SELECT %(object)s, * FROM unnest(%(fields)s::text[], %(values)s::text[], %(labels)s::text[], %(active)s::boolean[])
