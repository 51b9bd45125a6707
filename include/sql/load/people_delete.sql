-- A record deleted in Salesforce: archive its person, unless the person is still linked to
-- the other object (then only the link goes). Archived people are kept and not emailed.
WITH archived AS (
    UPDATE people p
       SET archived_at = i.system_modstamp,
           archive_reason = {object} || ' deleted in Salesforce',
           updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND p.{idcol} = i.sf_id AND p.{othercol} IS NULL AND p.archived_at IS NULL
 RETURNING i.sf_id
), unlinked AS (
    UPDATE people p
       SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND p.{idcol} = i.sf_id AND p.{othercol} IS NOT NULL
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'archived'
 WHERE sf_id IN (SELECT sf_id FROM archived UNION ALL SELECT sf_id FROM unlinked);

-- A record deleted before it was ever synced has nothing to archive: skipped, said why.
UPDATE incoming i SET skip_reason = 'deleted_not_in_marketing'
 WHERE i.is_deleted AND i.skip_reason IS NULL AND i.outcome IS NULL
   AND NOT EXISTS (SELECT 1 FROM people p WHERE p.{idcol} = i.sf_id);
