-- Rows the load skipped (duplicates, deleted before ever synced, update-only misses).
INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)
SELECT %(run_id)s, s.row_id, s.sf_id, s.reason
  FROM unnest(%(row_ids)s::bigint[], %(sf_ids)s::text[], %(reasons)s::text[]) AS s(row_id, sf_id, reason)
ON CONFLICT (run_id, row_id) DO UPDATE SET reason = EXCLUDED.reason
