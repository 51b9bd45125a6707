-- Earlier differential runs of the object that never finished: their worker stopped (one
-- differential runs at a time per object, so nothing else can still be working on them).
UPDATE crm_sync.sync_runs
   SET status = 'failed', finished_at = now(),
       error = 'its worker stopped before the run finished; run ' || %(by)s::text || ' re-reads its window'
 WHERE object = %(object)s AND kind = 'differential' AND run_id < %(by)s
   AND status IN ('running', 'extracted', 'validated', 'loaded')
