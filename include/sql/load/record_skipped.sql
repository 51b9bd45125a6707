-- Rows the load skipped (duplicates, deleted before ever synced, update-only misses), as
-- the load's outcomes brought them to the warehouse (`load_outcomes`).
INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)
SELECT %(run_id)s, o.row_id, o.sf_id, o.skip_reason
  FROM load_outcomes o
 WHERE o.outcome = 'skipped'
ON CONFLICT (run_id, row_id) DO UPDATE SET reason = EXCLUDED.reason
