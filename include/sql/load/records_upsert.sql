-- Upsert a record table by Salesforce Id; unchanged rows are not rewritten.
WITH upserted_rows AS (
    INSERT INTO {target} AS t (sf_id, {insert_cols})
    SELECT i.sf_id, {select_cols}
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL
     ORDER BY i.sf_id  -- the sf_id index is written in key order (see people_upsert.sql)
    ON CONFLICT (sf_id) DO UPDATE
       SET {set_list},
           archived_at = NULL,
           archive_reason = NULL,
           updated_at = now()
     WHERE ({lhs}, t.archived_at) IS DISTINCT FROM ({rhs}, NULL)
 RETURNING t.sf_id, (xmax = 0) AS inserted
)
INSERT INTO upserted (sf_id, outcome)
SELECT u.sf_id, CASE WHEN u.inserted THEN 'created' ELSE 'updated' END
  FROM upserted_rows u;
