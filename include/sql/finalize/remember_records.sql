-- The latest version and outcome of every record this run processed, and the hash of the
-- Salesforce-owned values its load left on the marketing row (reconciliation compares
-- Salesforce's versions and the marketing rows' values with these). A record staged without
-- an Id has no version to remember (it stays in quarantine).
INSERT INTO crm_sync.synced_records (object, sf_id, system_modstamp, is_deleted, outcome, run_id, value_hash)
SELECT DISTINCT ON (r.sf_id) %(object)s, r.sf_id, r.system_modstamp, r.is_deleted,
       CASE WHEN q.row_id IS NOT NULL THEN 'quarantined'
            WHEN s.row_id IS NOT NULL THEN 'skipped' ELSE 'published' END,
       r.run_id,
       CASE WHEN q.row_id IS NULL AND s.row_id IS NULL THEN e.value_hash END
  FROM crm_staging.records r
  LEFT JOIN crm_quarantine.records q ON q.run_id = r.run_id AND q.row_id = r.row_id
  LEFT JOIN crm_sync.skipped s ON s.run_id = r.run_id AND s.row_id = r.row_id
  LEFT JOIN crm_sync.record_events e ON e.run_id = r.run_id AND e.sf_id = r.sf_id AND e.value_hash IS NOT NULL
 WHERE r.run_id = %(run_id)s AND r.sf_id <> ''
 ORDER BY r.sf_id, r.system_modstamp DESC, r.row_id DESC
ON CONFLICT (object, sf_id) DO UPDATE
   SET system_modstamp = EXCLUDED.system_modstamp, is_deleted = EXCLUDED.is_deleted,
       outcome = EXCLUDED.outcome, run_id = EXCLUDED.run_id, value_hash = EXCLUDED.value_hash
 WHERE crm_sync.synced_records.system_modstamp <= EXCLUDED.system_modstamp
