-- Assignment rules with Salesforce's Active flag; unchanged rules are not rewritten.
INSERT INTO crm_assignment_rules (sf_id, name, sobject_type, is_active)
SELECT * FROM unnest(%(ids)s::text[], %(names)s::text[], %(sobject_types)s::text[], %(active)s::boolean[])
ON CONFLICT (sf_id) DO UPDATE
   SET name = EXCLUDED.name, sobject_type = EXCLUDED.sobject_type, is_active = EXCLUDED.is_active,
       removed_at = NULL, updated_at = now()
 WHERE (crm_assignment_rules.name, crm_assignment_rules.sobject_type, crm_assignment_rules.is_active,
        crm_assignment_rules.removed_at)
       IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.sobject_type, EXCLUDED.is_active, NULL::timestamptz)
