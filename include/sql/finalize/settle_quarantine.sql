-- Open quarantine rows of records this run passed (staged, neither rejected nor an older
-- version in the batch) are settled; a row this run refreshed is the run's own and stays.
UPDATE crm_quarantine.records q
   SET status = 'superseded', resolved_at = now()
  FROM crm_staging.records r
 WHERE r.run_id = %(run_id)s AND r.sf_id <> '' AND q.object = %(object)s AND q.status = 'open'
   AND q.run_id < r.run_id AND q.sf_id = r.sf_id
   AND NOT EXISTS (SELECT 1 FROM crm_staging.rejected n WHERE n.run_id = r.run_id AND n.row_id = r.row_id)
   AND NOT EXISTS (SELECT 1 FROM crm_sync.skipped s
                    WHERE s.run_id = r.run_id AND s.row_id = r.row_id AND s.reason = 'superseded_in_batch')
