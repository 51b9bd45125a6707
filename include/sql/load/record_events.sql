-- The run's per-record events (the console's record timeline): every staged record with what
-- became of it: published rows by their load outcome, then the skipped and the quarantined
-- with their reasons. (A retried load first deletes the run's events.)
INSERT INTO crm_sync.record_events (run_id, object, sf_id, system_modstamp, outcome, reason)
SELECT r.run_id, %(object)s, r.sf_id, r.system_modstamp, COALESCE(q.outcome, s.outcome, o.outcome),
       COALESCE(q.reason, s.reason)
  FROM crm_staging.records r
  LEFT JOIN load_outcomes o ON o.row_id = r.row_id AND o.outcome <> 'skipped'
  LEFT JOIN LATERAL (SELECT 'skipped' AS outcome, s.reason FROM crm_sync.skipped s
                      WHERE s.run_id = r.run_id AND s.row_id = r.row_id) s ON true
  LEFT JOIN LATERAL (SELECT 'quarantined' AS outcome, array_to_string(q.reasons, '; ') AS reason
                       FROM crm_quarantine.records q
                      WHERE q.run_id = r.run_id AND q.row_id = r.row_id) q ON true
 WHERE r.run_id = %(run_id)s
   AND COALESCE(q.outcome, s.outcome, o.outcome) IS NOT NULL
