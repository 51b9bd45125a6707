-- Mirror: rows whose {object} Salesforce no longer has at all (hard-deleted or purged).
WITH archived AS (
    UPDATE {target} t
       SET archived_at = now(), archive_reason = {object} || ' no longer in Salesforce', updated_at = now()
     WHERE t.sf_id IS NOT NULL AND t.archived_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM sf_ids s WHERE s.sf_id = t.sf_id)
 RETURNING t.id
)
SELECT count(*) FROM archived;
