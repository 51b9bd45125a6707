-- Per-record results of one write-back run, failures first. Binds: %(run_id)s, %(limit)s.
SELECT result_id, object, sf_id, marketing_table, marketing_id, operation, outcome, reason, error,
       written, restored, conflicts, attempts, recorded_at
  FROM crm_sync.writeback_results
 WHERE run_id = %(run_id)s
 ORDER BY (outcome = 'failed') DESC, result_id
 LIMIT %(limit)s;
