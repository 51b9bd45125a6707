-- Rows whose key Salesforce no longer returns: deactivated and stamped once, never deleted.
UPDATE {table}
   SET is_active = false, removed_at = now(), updated_at = now()
 WHERE {key} <> ALL (%(keys)s::text[]) AND removed_at IS NULL
