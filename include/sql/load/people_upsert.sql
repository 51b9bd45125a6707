-- Upsert people by email. {owns} says whether this object's values win on the person
-- (a Contact always; a Lead only while no live Contact shares the email).
WITH upserted_rows AS (
    INSERT INTO people AS p ({idcol}, sf_object, {insert_cols})
    SELECT i.sf_id, {object}, {select_cols}
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
     -- In key order, the email index is written page after page instead of at random
     -- (at a million rows this takes a sixth off the statement).
     ORDER BY i.email
    ON CONFLICT (email) DO UPDATE
       SET {idcol} = EXCLUDED.{idcol},
           sf_object = CASE WHEN {owns} THEN EXCLUDED.sf_object ELSE p.sf_object END,
           {set_list},
           archived_at = NULL,
           archive_reason = NULL,
           updated_at = now()
     WHERE (p.{idcol}, p.sf_object, {lhs}, p.archived_at)
           IS DISTINCT FROM
           (EXCLUDED.{idcol}, CASE WHEN {owns} THEN EXCLUDED.sf_object ELSE p.sf_object END, {rhs}, NULL)
 RETURNING p.{idcol} AS sf_id, (xmax = 0) AS inserted
)
INSERT INTO upserted (sf_id, outcome)
SELECT u.sf_id, CASE WHEN u.inserted THEN 'created' ELSE 'updated' END
  FROM upserted_rows u;
