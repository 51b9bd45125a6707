-- Two records of one object cannot own one email. The record that owns the person keeps it;
-- among new records the lowest Id wins; the others are skipped and logged.
--
-- Only rows whose email is shared (twice in the batch, or held by a person linked to
-- another record of this object) can be duplicates: those are found set-based first, so the
-- per-row checks below run on them alone rather than probing three indexes for every row.
WITH candidates AS MATERIALIZED (
    SELECT email FROM incoming
     WHERE NOT is_deleted AND skip_reason IS NULL AND email IS NOT NULL
     GROUP BY email HAVING count(*) > 1
    UNION
    SELECT i.email FROM incoming i JOIN people p ON p.email = i.email
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
       AND p.{idcol} IS NOT NULL AND p.{idcol} <> i.sf_id AND p.archived_at IS NULL
), suspects AS MATERIALIZED (
    SELECT i.row_id, i.sf_id, i.email FROM incoming i JOIN candidates c ON c.email = i.email
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
)
UPDATE incoming u SET skip_reason = 'duplicate_email'
  FROM suspects i
 WHERE u.row_id = i.row_id
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
