-- Rows of {object} records that Salesforce no longer has at all (hard-deleted or purged).
-- `{gone}` selects the gone Ids (column sf_id).
WITH gone AS ({gone}), archived AS (
    UPDATE {target} t
       SET archived_at = now(), archive_reason = {reason}, updated_at = now()
     WHERE t.sf_id IN (SELECT sf_id FROM gone) AND t.archived_at IS NULL
 RETURNING t.id
)
SELECT count(*) FROM archived
