-- Link a marketing row to the Salesforce record the write-back created (upsert by external
-- id). Placeholders: {table}. Parameters: row_id, sf_id. Runs with crm_sync.origin = 'writeback'.
UPDATE {table} t
   SET sf_id = %(sf_id)s, updated_at = now()
 WHERE t.id = %(row_id)s AND t.sf_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM {table} u WHERE u.sf_id = %(sf_id)s)
RETURNING t.id
