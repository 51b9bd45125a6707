-- A record deleted in Salesforce: archive its person, unless the person is still linked to
-- the other object (then only the link goes). Archived people are kept and not emailed.
--
-- `= ANY (deleted ids)` makes PostgreSQL look the few deleted records' people up by index:
-- joined plainly, it scans all of `people`, which right after a full sync's upsert also
-- means setting the hint bits of every new row (3 s at a million people).
WITH deleted AS (
    SELECT ARRAY(SELECT sf_id FROM incoming WHERE is_deleted) AS ids
), archived AS (
    UPDATE people p
       SET archived_at = i.system_modstamp,
           {vercol} = i.system_modstamp,
           archive_reason = {object} || ' deleted in Salesforce',
           updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND i.skip_reason IS NULL AND p.{idcol} = i.sf_id AND p.{othercol} IS NULL AND p.archived_at IS NULL
       AND p.{idcol} = ANY ((SELECT ids FROM deleted)::text[])
 RETURNING i.sf_id
), unlinked AS (
    UPDATE people p
       SET {idcol} = NULL, {vercol} = NULL, sf_object = {other_object}, updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND i.skip_reason IS NULL AND p.{idcol} = i.sf_id AND p.{othercol} IS NOT NULL
       AND p.{idcol} = ANY ((SELECT ids FROM deleted)::text[])
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'archived'
 WHERE sf_id IN (SELECT sf_id FROM archived UNION ALL SELECT sf_id FROM unlinked);

-- A record deleted before it was ever synced has nothing to archive: skipped, said why.
UPDATE incoming i SET skip_reason = 'deleted_not_in_marketing'
 WHERE i.is_deleted AND i.skip_reason IS NULL AND i.outcome IS NULL
   AND NOT EXISTS (SELECT 1 FROM people p WHERE p.{idcol} = i.sf_id
                    AND p.{idcol} = ANY (ARRAY(SELECT sf_id FROM incoming WHERE is_deleted)));
