-- Queues with the objects they take; unchanged queues are not rewritten, a returning one is active again.
INSERT INTO crm_queues (sf_id, name, developer_name, email, sobject_types)
SELECT id, name, developer_name, email, string_to_array(sobjects, ',')
  FROM unnest(%(ids)s::text[], %(names)s::text[], %(developer_names)s::text[], %(emails)s::text[],
              %(sobjects)s::text[]) AS q (id, name, developer_name, email, sobjects)
ON CONFLICT (sf_id) DO UPDATE
   SET name = EXCLUDED.name, developer_name = EXCLUDED.developer_name, email = EXCLUDED.email,
       sobject_types = EXCLUDED.sobject_types, is_active = true, removed_at = NULL, updated_at = now()
 WHERE (crm_queues.name, crm_queues.developer_name, crm_queues.email, crm_queues.sobject_types,
        crm_queues.is_active)
       IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.developer_name, EXCLUDED.email, EXCLUDED.sobject_types, true)
