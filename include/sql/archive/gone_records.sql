-- Rows of {object} records that Salesforce no longer has at all (hard-deleted or purged), or
-- that left the mapping's filter. `{gone}` selects the Ids (column sf_id); `{reason}` is the
-- archive reason. Returns the Ids acted on.
WITH gone AS ({gone}), archived AS (
    UPDATE {target} t
       SET archived_at = now(), archive_reason = {reason}, updated_at = now()
      FROM gone g
     WHERE t.sf_id = g.sf_id AND t.archived_at IS NULL
 RETURNING g.sf_id
)
SELECT sf_id FROM archived
