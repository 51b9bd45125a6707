-- Salesforce's rejections, newest first. Binds: %(limit)s.
SELECT result_id, run_id, object, sf_id, marketing_table, marketing_id, operation, reason, error,
       written, attempts, recorded_at
  FROM crm_sync.writeback_results
 WHERE outcome = 'failed'
 ORDER BY result_id DESC
 LIMIT %(limit)s;
