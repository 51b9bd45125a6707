-- Every write-back to Salesforce of one record. Binds: %(sf_id)s.
SELECT w.result_id, w.run_id, w.object, w.operation, w.outcome, w.reason, w.error, w.written,
       w.attempts, w.recorded_at, w.marketing_table, w.marketing_id, r.dag_run_id
  FROM crm_sync.writeback_results w
  JOIN crm_sync.sync_runs r ON r.run_id = w.run_id
 WHERE w.sf_id = %(sf_id)s
 ORDER BY w.result_id DESC;
