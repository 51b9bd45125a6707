-- Of the campaign members skipped for an unknown person (sf_id, the Contact or Lead Id they
-- name), those whose person the marketing database has now. Placeholders: none.
SELECT b.sf_id
  FROM unnest(%(sf_ids)s::text[], %(keys)s::text[]) AS b(sf_id, key)
 WHERE EXISTS (SELECT 1 FROM people p WHERE p.contact_sf_id = b.key)
    OR EXISTS (SELECT 1 FROM people p WHERE p.lead_sf_id = b.key)
