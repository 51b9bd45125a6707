-- The run's per-record events (the console's record timeline): every staged record with what
-- became of it: quarantined or skipped with the reason, else its load outcome. Set-based:
-- hash joins over the run's rows. (A retried load first deletes the run's events.) A
-- published record keeps the hash of the values it left on its marketing row (finalize
-- remembers it in crm_sync.synced_records).
INSERT INTO crm_sync.record_events (run_id, object, sf_id, system_modstamp, outcome, reason, value_hash)
SELECT r.run_id, %(object)s, r.sf_id, r.system_modstamp,
       CASE WHEN q.row_id IS NOT NULL THEN 'quarantined'
            WHEN s.row_id IS NOT NULL THEN 'skipped'
            ELSE o.outcome END,
       COALESCE(array_to_string(q.reasons, '; '), s.reason),
       CASE WHEN q.row_id IS NULL AND s.row_id IS NULL THEN o.value_hash END
  FROM crm_staging.records r
  LEFT JOIN load_outcomes o ON o.row_id = r.row_id
  LEFT JOIN crm_sync.skipped s ON s.run_id = r.run_id AND s.row_id = r.row_id
  LEFT JOIN crm_quarantine.records q ON q.run_id = r.run_id AND q.row_id = r.row_id
 WHERE r.run_id = %(run_id)s
   AND (q.row_id IS NOT NULL OR s.row_id IS NOT NULL OR o.row_id IS NOT NULL)
