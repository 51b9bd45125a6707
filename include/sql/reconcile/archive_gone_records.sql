-- Reconciliation: rows of a {object} Salesforce no longer has at all.
WITH archived AS (
    UPDATE {target} t
       SET archived_at = now(), archive_reason = {object} || ' no longer in Salesforce (reconciliation)',
           updated_at = now()
     WHERE t.sf_id = ANY(%(ids)s) AND t.archived_at IS NULL
 RETURNING t.id
)
SELECT count(*) FROM archived;
