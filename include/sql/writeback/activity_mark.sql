-- Bookkeeping after the results are saved: which activity rows are done (written, rejected
-- for good, or skipped for good) and the Salesforce record they became.
UPDATE marketing_activities AS a
   SET crm_written_at = now(), crm_outcome = m.outcome, crm_sf_id = m.sf_id
  FROM unnest(%(ids)s::bigint[], %(outcomes)s::text[], %(sf_ids)s::text[]) AS m (id, outcome, sf_id)
 WHERE a.id = m.id AND a.crm_written_at IS NULL
