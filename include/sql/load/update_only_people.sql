-- update_only: records with no marketing person yet are skipped, not created.
UPDATE incoming i SET skip_reason = 'update_only_no_match'
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM people p WHERE p.{idcol} = i.sf_id OR p.email = i.email);
