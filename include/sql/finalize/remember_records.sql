-- The latest version and outcome of every record this run processed (reconciliation
-- compares Salesforce's versions with these). A record staged without an Id has no version
-- to remember (it stays in quarantine).
INSERT INTO crm_sync.synced_records (object, sf_id, system_modstamp, is_deleted, outcome, run_id)
SELECT DISTINCT ON (r.sf_id) %(object)s, r.sf_id, r.system_modstamp, r.is_deleted,
       CASE WHEN q.row_id IS NOT NULL THEN 'quarantined'
            WHEN s.row_id IS NOT NULL THEN 'skipped' ELSE 'published' END,
       r.run_id
  FROM crm_staging.records r
  LEFT JOIN crm_quarantine.records q ON q.run_id = r.run_id AND q.row_id = r.row_id
  LEFT JOIN crm_sync.skipped s ON s.run_id = r.run_id AND s.row_id = r.row_id
 WHERE r.run_id = %(run_id)s AND r.sf_id <> ''
 ORDER BY r.sf_id, r.system_modstamp DESC, r.row_id DESC
ON CONFLICT (object, sf_id) DO UPDATE
   SET system_modstamp = EXCLUDED.system_modstamp, is_deleted = EXCLUDED.is_deleted,
       outcome = EXCLUDED.outcome, run_id = EXCLUDED.run_id
 WHERE crm_sync.synced_records.system_modstamp <= EXCLUDED.system_modstamp
