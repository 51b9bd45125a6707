-- People linked to {object} records that Salesforce no longer has at all (hard-deleted or
-- purged from the recycle bin), or that left the mapping's filter: archived, or only
-- unlinked while the other object still links them. `{gone}` selects the Ids (column
-- sf_id); `{reason}` is the archive reason. Returns the Ids acted on.
WITH gone AS ({gone}), archived AS (
    UPDATE people p
       SET archived_at = now(), archive_reason = {reason}, updated_at = now()
      FROM gone g
     WHERE p.{idcol} = g.sf_id AND p.{othercol} IS NULL AND p.archived_at IS NULL
 RETURNING g.sf_id
), unlinked AS (
    UPDATE people p
       SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
      FROM gone g
     WHERE p.{idcol} = g.sf_id AND p.{othercol} IS NOT NULL
 RETURNING g.sf_id
)
SELECT sf_id FROM archived UNION ALL SELECT sf_id FROM unlinked
