-- One chunk of marketing activity not yet written to Salesforce, oldest first, with the
-- person's Salesforce links (per_event mode). Keyset on id: rows that wait are passed over.
SELECT a.id, a.person_id, a.kind, a.occurred_at, a.subject, a.detail, a.campaign,
       p.id IS NOT NULL AS person_exists, p.archived_at IS NOT NULL AS archived,
       p.contact_sf_id, p.lead_sf_id
  FROM marketing_activities a
  LEFT JOIN people p ON p.id = a.person_id
 WHERE a.crm_written_at IS NULL AND a.id > %(after)s
 ORDER BY a.id
 LIMIT %(size)s
