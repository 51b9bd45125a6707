-- Test seeding only: the per-record events of one finished run, derived set-based from what the
-- run left in the warehouse, for runs whose finalize did not write them (yet). The outcome of a
-- published record is 'archived' for a delete, 'created' for a record never published before,
-- 'unchanged' when the same version was published before, else 'updated'.
INSERT INTO crm_sync.record_events (run_id, object, sf_id, system_modstamp, outcome, reason)
SELECT r.run_id, run.object, r.sf_id, r.system_modstamp,
       CASE WHEN q.row_id IS NOT NULL THEN 'quarantined'
            WHEN s.row_id IS NOT NULL THEN 'skipped'
            WHEN r.is_deleted THEN 'archived'
            WHEN prior.system_modstamp IS NULL THEN 'created'
            WHEN prior.system_modstamp = r.system_modstamp THEN 'unchanged'
            ELSE 'updated' END,
       coalesce(array_to_string(q.reasons, '; '), s.reason)
  FROM crm_staging.records r
  JOIN crm_sync.sync_runs run ON run.run_id = r.run_id
  LEFT JOIN crm_quarantine.records q ON q.run_id = r.run_id AND q.row_id = r.row_id
  LEFT JOIN crm_sync.skipped s ON s.run_id = r.run_id AND s.row_id = r.row_id
  LEFT JOIN LATERAL (
        SELECT e.system_modstamp FROM crm_sync.record_events e
         WHERE e.sf_id = r.sf_id AND e.run_id < r.run_id
           AND e.outcome IN ('created', 'updated', 'unchanged')
         ORDER BY e.run_id DESC LIMIT 1) prior ON true
 WHERE r.run_id = %(run_id)s
   AND NOT EXISTS (SELECT 1 FROM crm_sync.record_events done WHERE done.run_id = %(run_id)s);
