-- A record deleted in Salesforce archives its marketing row (kept, flagged).
WITH archived AS (
    UPDATE {target} t
       SET archived_at = i.system_modstamp,
           {vercol} = i.system_modstamp,
           archive_reason = {object} || ' deleted in Salesforce',
           updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND i.skip_reason IS NULL AND t.sf_id = i.sf_id AND t.archived_at IS NULL
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'archived' FROM archived WHERE incoming.sf_id = archived.sf_id;

-- A record deleted before it was ever synced has nothing to archive: skipped, said why.
UPDATE incoming i SET skip_reason = 'deleted_not_in_marketing'
 WHERE i.is_deleted AND i.skip_reason IS NULL AND i.outcome IS NULL
   AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.sf_id = i.sf_id);
