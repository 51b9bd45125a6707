-- update_only: records with no marketing row yet are skipped, not created.
UPDATE incoming i SET skip_reason = 'update_only_no_match'
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.sf_id = i.sf_id);
