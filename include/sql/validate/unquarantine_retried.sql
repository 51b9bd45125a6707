-- A retried validation of the run: its open quarantine rows that it no longer rejects go
-- (the record passes now; the load will publish it).
DELETE FROM crm_quarantine.records q
 WHERE q.run_id = %(run_id)s AND q.status = 'open'
   AND NOT EXISTS (SELECT 1 FROM crm_staging.rejected f
                    WHERE f.run_id = q.run_id AND f.row_id = q.row_id AND f.reasons = q.reasons)
