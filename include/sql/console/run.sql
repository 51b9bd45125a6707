-- One run of the sync log. Binds: %(run_id)s.
SELECT *, extract(epoch FROM finished_at - started_at) AS seconds
  FROM crm_sync.sync_runs
 WHERE run_id = %(run_id)s;
