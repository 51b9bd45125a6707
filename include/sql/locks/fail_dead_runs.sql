-- The unfinished sync runs of a holder that died: marked failed, saying why.
UPDATE crm_sync.sync_runs
   SET status = 'failed', finished_at = now(),
       error = 'its worker stopped (no heartbeat for the lock''s lease): ' || %(reason)s
 WHERE dag_run_id = %(holder)s AND status IN ('running', 'extracted', 'validated', 'loaded')
