-- Mirror: people linked to a {object} that Salesforce no longer has at all (hard-deleted or
-- purged from the recycle bin). Archived, or only unlinked when the other object still links them.
WITH archived AS (
    UPDATE people p
       SET archived_at = now(), archive_reason = {object} || ' no longer in Salesforce', updated_at = now()
     WHERE p.{idcol} IS NOT NULL AND p.{othercol} IS NULL AND p.archived_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM sf_ids s WHERE s.sf_id = p.{idcol})
 RETURNING p.id
), unlinked AS (
    UPDATE people p
       SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
     WHERE p.{idcol} IS NOT NULL AND p.{othercol} IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM sf_ids s WHERE s.sf_id = p.{idcol})
 RETURNING p.id
)
SELECT (SELECT count(*) FROM archived) + (SELECT count(*) FROM unlinked);
