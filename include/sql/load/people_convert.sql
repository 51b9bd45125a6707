-- A converted Lead hands its person over to the Contact it became. Placeholders: {vercol}
-- (the Lead's version column, cleared with the link).
WITH linked AS (
    UPDATE people p
       SET contact_sf_id = COALESCE(p.contact_sf_id, i.converted_contact_id),
           lead_sf_id = NULL,
           {vercol} = NULL,
           sf_object = 'Contact',
           updated_at = now()
      FROM incoming i
     WHERE i.is_converted AND NOT i.is_deleted AND i.skip_reason IS NULL
       AND i.converted_contact_id IS NOT NULL AND NOT i.converted_contact_gone
       AND p.lead_sf_id = i.sf_id
       AND (p.contact_sf_id = i.converted_contact_id
            OR (p.contact_sf_id IS NULL
                AND NOT EXISTS (SELECT 1 FROM people q WHERE q.contact_sf_id = i.converted_contact_id)))
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM linked WHERE incoming.sf_id = linked.sf_id;

-- The person has no live record left: the Contact is already another person (a different
-- email; this person is merged away, counted as updated), or it was deleted before this
-- Lead's conversion reached the load (its deletion came first and found no person to
-- archive; counted as archived). If that Contact is undeleted, its own load brings the
-- person back by email.
WITH merged AS (
    UPDATE people p
       SET lead_sf_id = NULL,
           {vercol} = NULL,
           archived_at = COALESCE(p.archived_at, i.system_modstamp),
           archive_reason = COALESCE(p.archive_reason, CASE WHEN i.converted_contact_gone
               THEN 'Lead converted into a Contact since deleted in Salesforce'
               ELSE 'Lead converted into a Contact with another email' END),
           updated_at = now()
      FROM incoming i
     WHERE i.is_converted AND NOT i.is_deleted AND i.skip_reason IS NULL
       AND p.lead_sf_id = i.sf_id AND p.contact_sf_id IS NULL
 RETURNING i.sf_id, i.converted_contact_gone AS gone
)
UPDATE incoming SET outcome = CASE WHEN merged.gone THEN 'archived' ELSE 'updated' END
  FROM merged WHERE incoming.sf_id = merged.sf_id;

-- The person already has another Contact (one with the same email, not the one the Lead
-- became): only the Lead's link goes; the person stays that Contact's.
WITH unlinked AS (
    UPDATE people p
       SET lead_sf_id = NULL,
           {vercol} = NULL,
           sf_object = 'Contact',
           updated_at = now()
      FROM incoming i
     WHERE i.is_converted AND NOT i.is_deleted AND i.skip_reason IS NULL
       AND p.lead_sf_id = i.sf_id AND p.contact_sf_id IS NOT NULL
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM unlinked WHERE incoming.sf_id = unlinked.sf_id;

-- Converted Leads carry no values of their own any more: their Contact does. They stop
-- here (a row linked above keeps its outcome 'updated'; the others count as skipped).
UPDATE incoming SET skip_reason = 'converted_lead'
 WHERE is_converted AND NOT is_deleted AND skip_reason IS NULL;
