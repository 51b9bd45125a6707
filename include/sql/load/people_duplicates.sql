-- Two records of one object cannot own one email. The record that owns the person keeps it;
-- among new records the lowest Id wins; the others are skipped and logged.
UPDATE incoming i SET skip_reason = 'duplicate_email'
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.email IS NOT NULL
   AND (
        EXISTS (SELECT 1 FROM people p
                 WHERE p.email = i.email AND p.{idcol} IS NOT NULL AND p.{idcol} <> i.sf_id
                   AND p.archived_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM incoming j
                                    WHERE j.sf_id = p.{idcol}
                                      AND (j.is_deleted OR j.email IS DISTINCT FROM i.email)))
     OR EXISTS (SELECT 1 FROM incoming j
                 WHERE j.email = i.email AND NOT j.is_deleted AND j.skip_reason IS NULL
                   AND j.sf_id < i.sf_id
                   AND NOT EXISTS (SELECT 1 FROM people p WHERE p.email = i.email AND p.{idcol} = i.sf_id))
   );
