-- Each loaded campaign member points at its person: the Contact's, else the Lead's. Runs
-- after the upsert; a member whose person changed (its Lead converted, say) counts as
-- updated. Placeholders: {target}.
WITH linked AS (
    UPDATE {target} t
       SET person_id = who.id, updated_at = now()
      FROM incoming i
     CROSS JOIN LATERAL (
           SELECT p.id FROM people p
            WHERE p.contact_sf_id = i.contact_sf_id OR p.lead_sf_id = i.lead_sf_id
            ORDER BY (p.contact_sf_id IS NOT DISTINCT FROM i.contact_sf_id) DESC, p.id
            LIMIT 1) who
     WHERE t.sf_id = i.sf_id AND NOT i.is_deleted AND i.skip_reason IS NULL
       AND t.person_id IS DISTINCT FROM who.id
 RETURNING t.sf_id
)
INSERT INTO upserted (sf_id, outcome)
SELECT l.sf_id, 'updated' FROM linked l
 WHERE NOT EXISTS (SELECT 1 FROM upserted u WHERE u.sf_id = l.sf_id)
