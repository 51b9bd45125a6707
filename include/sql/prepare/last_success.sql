-- When the object's last successful run of the kinds that keep it fresh finished.
SELECT max(finished_at)
  FROM crm_sync.sync_runs
 WHERE object = %(object)s AND status = 'succeeded' AND kind IN ('differential', 'full')
