-- A member the marketing side added (no sf_id yet) that Salesforce has as well (the same
-- campaign and person, e.g. added on both sides before the write-back ran) is claimed by
-- the record instead of doubled; its pending change is then written as an update.
-- Placeholders: {target}.
WITH claimed AS (
    UPDATE {target} t
       SET sf_id = i.sf_id, updated_at = now()
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
       AND NOT EXISTS (SELECT 1 FROM {target} u WHERE u.sf_id = i.sf_id)
       AND t.id = (SELECT min(m.id) FROM {target} m
                     JOIN people who ON who.id = m.person_id
                    WHERE m.sf_id IS NULL AND m.archived_at IS NULL AND m.campaign_sf_id = i.campaign_sf_id
                      AND (who.contact_sf_id = i.contact_sf_id OR who.lead_sf_id = i.lead_sf_id))
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM claimed WHERE incoming.sf_id = claimed.sf_id
