-- Reconciliation: people linked to a {object} Salesforce no longer has at all.
WITH archived AS (
    UPDATE people p
       SET archived_at = now(), archive_reason = {object} || ' no longer in Salesforce (reconciliation)',
           updated_at = now()
     WHERE p.{idcol} = ANY(%(ids)s) AND p.{othercol} IS NULL AND p.archived_at IS NULL
 RETURNING p.id
), unlinked AS (
    UPDATE people p SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
     WHERE p.{idcol} = ANY(%(ids)s) AND p.{othercol} IS NOT NULL
 RETURNING p.id
)
SELECT (SELECT count(*) FROM archived) + (SELECT count(*) FROM unlinked);
