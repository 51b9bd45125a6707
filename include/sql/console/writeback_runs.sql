-- Write-back runs, newest first. Binds: %(limit)s.
SELECT run_id, object, status, dag_run_id, created, updated, unchanged, skipped, failed, retried,
       api_calls, skipped_reasons, error, started_at, finished_at,
       extract(epoch FROM finished_at - started_at) AS seconds
  FROM crm_sync.sync_runs
 WHERE kind = 'writeback'
 ORDER BY run_id DESC
 LIMIT %(limit)s;
