-- Every run that touched one record, newest first. Binds: %(sf_id)s.
SELECT e.run_id, e.object, e.system_modstamp, e.outcome, e.reason, e.recorded_at,
       r.kind, r.status, r.dag_run_id, r.started_at
  FROM crm_sync.record_events e
  JOIN crm_sync.sync_runs r ON r.run_id = e.run_id
 WHERE e.sf_id = %(sf_id)s
 ORDER BY e.run_id DESC;
