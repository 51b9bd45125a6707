-- Upsert a record table by Salesforce Id; unchanged rows are not rewritten. The record's
-- version ({vercol}) is stored with it; a row whose only change is its version is rewritten
-- for it and counts as unchanged (`updated_at` moves only with a value, see people_upsert.sql).
WITH upserted_rows AS (
    INSERT INTO {target} AS t (sf_id, {vercol}, {insert_cols})
    SELECT i.sf_id, i.system_modstamp, {select_cols}
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
     ORDER BY i.sf_id  -- the sf_id index is written in key order (see people_upsert.sql)
    ON CONFLICT (sf_id) DO UPDATE
       SET {set_list},
           {vercol} = EXCLUDED.{vercol},
           archived_at = NULL,
           archive_reason = NULL,
           updated_at = CASE WHEN {changed} THEN now() ELSE t.updated_at END
     WHERE {changed} OR t.{vercol} IS DISTINCT FROM EXCLUDED.{vercol}
 RETURNING t.sf_id, (xmax = 0) AS inserted, t.updated_at = now() AS changed
)
INSERT INTO upserted (sf_id, outcome)
SELECT u.sf_id, CASE WHEN u.inserted THEN 'created' ELSE 'updated' END
  FROM upserted_rows u
 WHERE u.inserted OR u.changed;
