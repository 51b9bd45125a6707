-- Older quarantine entries of records this run loaded are settled.
UPDATE crm_quarantine.records q
   SET status = 'superseded', resolved_at = now()
  FROM crm_staging.records r
 WHERE r.run_id = %(run_id)s AND q.object = %(object)s AND q.status = 'open' AND q.run_id < r.run_id
   AND q.sf_id = r.sf_id
   AND NOT EXISTS (SELECT 1 FROM crm_quarantine.records n WHERE n.run_id = r.run_id AND n.row_id = r.row_id)
