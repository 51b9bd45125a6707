-- A campaign member is a person's list membership: a member whose Contact and Lead have no
-- person in the marketing database (not synced yet, or skipped for want of an email) is
-- skipped with a reason naming the field that points at the missing person. It is
-- remembered (crm_sync.blocked_records) and re-read by Id once that person exists
-- (crm_sync.reevaluate). Placeholders: none.
UPDATE incoming i
   SET skip_reason = CASE WHEN i.contact_sf_id IS NOT NULL THEN 'unknown_person:ContactId'
                          ELSE 'unknown_person:LeadId' END
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM people who WHERE who.contact_sf_id = i.contact_sf_id)
   AND NOT EXISTS (SELECT 1 FROM people who WHERE who.lead_sf_id = i.lead_sf_id)
