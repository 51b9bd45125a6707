-- Records this run skipped because another record holds their match key, with that key
-- (normalised, placeholder key): finalize re-reads them by Id once the key is free
-- (crm_sync.reevaluate).
INSERT INTO crm_sync.blocked_records AS b (object, sf_id, reason, match_key, system_modstamp, run_id)
SELECT DISTINCT ON (r.sf_id) %(object)s, r.sf_id, s.reason, {key}, r.system_modstamp, r.run_id
  FROM crm_sync.skipped s
  JOIN crm_staging.records r ON r.run_id = s.run_id AND r.row_id = s.row_id
 WHERE s.run_id = %(run_id)s AND s.reason = ANY (%(reasons)s::text[]) AND {key} IS NOT NULL
 ORDER BY r.sf_id, r.system_modstamp DESC
ON CONFLICT (object, sf_id) DO UPDATE
   SET reason = EXCLUDED.reason, match_key = EXCLUDED.match_key, system_modstamp = EXCLUDED.system_modstamp,
       run_id = EXCLUDED.run_id, blocked_at = now()
 WHERE b.system_modstamp <= EXCLUDED.system_modstamp
