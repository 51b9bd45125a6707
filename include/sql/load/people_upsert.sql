-- Upsert people by email. {owns} says whether this object's values win on the person
-- (a Contact always; a Lead only while no live Contact shares the email).
-- The record's version ({vercol}) is stored with it; a row whose values stay as they are but
-- whose version moves on is rewritten for the version alone and counts as unchanged:
-- `updated_at` moves only with a value (placeholder changed), and the outcome is read from it.
-- An archived person brought back by this record drops the other object's link: archived
-- people keep only the Id of the record that archived them (deleted, merged away, gone or out
-- of the filter), which must not come back to life with the person. That record, if it
-- returns, links itself again by email through its own load. Nor does the master's Id of a
-- person archived as merged stay on it.
WITH upserted_rows AS (
    INSERT INTO people AS p ({idcol}, sf_object, {vercol}, {insert_cols})
    SELECT i.sf_id, {object}, i.system_modstamp, {select_cols}
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
     -- In key order, the email index is written page after page instead of at random
     -- (at a million rows this takes a sixth off the statement).
     ORDER BY i.email
    ON CONFLICT (email) DO UPDATE
       SET {idcol} = EXCLUDED.{idcol},
           {othercol} = CASE WHEN p.archived_at IS NULL THEN p.{othercol} END,
           sf_object = CASE WHEN {owns} THEN EXCLUDED.sf_object ELSE p.sf_object END,
           {set_list},
           {vercol} = EXCLUDED.{vercol},
           archived_at = NULL,
           archive_reason = NULL,
           merged_into_sf_id = NULL,
           updated_at = CASE WHEN {changed} THEN now() ELSE p.updated_at END
     WHERE {changed} OR p.{vercol} IS DISTINCT FROM EXCLUDED.{vercol}
 RETURNING p.{idcol} AS sf_id, (xmax = 0) AS inserted, p.updated_at = now() AS changed
)
INSERT INTO upserted (sf_id, outcome)
SELECT u.sf_id, CASE WHEN u.inserted THEN 'created' ELSE 'updated' END
  FROM upserted_rows u
 WHERE u.inserted OR u.changed;
