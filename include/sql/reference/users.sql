-- Record owners (Salesforce Users) for the marketing side; unchanged users are not rewritten.
INSERT INTO crm_users (sf_id, username, email, first_name, last_name, title, is_active)
SELECT * FROM unnest(%(ids)s::text[], %(usernames)s::text[], %(emails)s::text[], %(first_names)s::text[],
                     %(last_names)s::text[], %(titles)s::text[], %(active)s::boolean[])
ON CONFLICT (sf_id) DO UPDATE
   SET username = EXCLUDED.username, email = EXCLUDED.email, first_name = EXCLUDED.first_name,
       last_name = EXCLUDED.last_name, title = EXCLUDED.title, is_active = EXCLUDED.is_active,
       updated_at = now()
 WHERE (crm_users.username, crm_users.email, crm_users.first_name, crm_users.last_name, crm_users.title,
        crm_users.is_active)
       IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.email, EXCLUDED.first_name, EXCLUDED.last_name,
                         EXCLUDED.title, EXCLUDED.is_active)
