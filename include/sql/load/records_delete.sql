-- A record deleted in Salesforce archives its marketing row (kept, flagged).
WITH archived AS (
    UPDATE {target} t
       SET archived_at = i.system_modstamp,
           archive_reason = {object} || ' deleted in Salesforce',
           updated_at = now()
      FROM incoming i
     WHERE i.is_deleted AND t.sf_id = i.sf_id AND t.archived_at IS NULL
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'archived' FROM archived WHERE incoming.sf_id = archived.sf_id;
