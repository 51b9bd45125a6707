-- People linked to {object} records that Salesforce no longer has at all (hard-deleted or
-- purged from the recycle bin): archived, or only unlinked while the other object still
-- links them. `{gone}` selects the gone Ids (column sf_id).
WITH gone AS ({gone}), archived AS (
    UPDATE people p
       SET archived_at = now(), archive_reason = {reason}, updated_at = now()
     WHERE p.{idcol} IN (SELECT sf_id FROM gone) AND p.{othercol} IS NULL AND p.archived_at IS NULL
 RETURNING p.id
), unlinked AS (
    UPDATE people p
       SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
     WHERE p.{idcol} IN (SELECT sf_id FROM gone) AND p.{othercol} IS NOT NULL
 RETURNING p.id
)
SELECT (SELECT count(*) FROM archived) + (SELECT count(*) FROM unlinked)
