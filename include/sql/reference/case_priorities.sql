-- Case's Priority picklist from describe, in Salesforce's order; unchanged values are not rewritten.
INSERT INTO crm_case_priorities (value, label, is_default, sort_order, is_active)
SELECT * FROM unnest(%(values)s::text[], %(labels)s::text[], %(defaults)s::boolean[], %(orders)s::integer[],
                     %(active)s::boolean[])
ON CONFLICT (value) DO UPDATE
   SET label = EXCLUDED.label, is_default = EXCLUDED.is_default, sort_order = EXCLUDED.sort_order,
       is_active = EXCLUDED.is_active, removed_at = NULL, updated_at = now()
 WHERE (crm_case_priorities.label, crm_case_priorities.is_default, crm_case_priorities.sort_order,
        crm_case_priorities.is_active, crm_case_priorities.removed_at)
       IS DISTINCT FROM (EXCLUDED.label, EXCLUDED.is_default, EXCLUDED.sort_order, EXCLUDED.is_active,
                         NULL::timestamptz)
