-- Link a person to the Salesforce record the write-back created or found by email. Never
-- takes a link another person holds, nor replaces one. Placeholders: {idcol}.
-- Parameters: row_id, sf_id, object. Runs with crm_sync.origin = 'writeback' (not tracked).
UPDATE people p
   SET {idcol} = %(sf_id)s,
       sf_object = COALESCE(p.sf_object, %(object)s),
       updated_at = now()
 WHERE p.id = %(row_id)s AND p.{idcol} IS NULL
   AND NOT EXISTS (SELECT 1 FROM people q WHERE q.{idcol} = %(sf_id)s)
RETURNING p.id
