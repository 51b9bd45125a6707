-- Records matched by a key other than the Salesforce Id ({mk}, e.g. an external id). The
-- incoming key is normalised by the transform; stored keys are compared in the same form
-- (placeholders stored_key, stored_key_r: the normalised stored key of rows t and r). A key belongs to one record: a collision is a skip, never an overwrite.

-- A stored key not yet in normalised form takes it (unless another row has that form); of
-- several stored forms of one key, the oldest row's. Set-based, as in people_keys.sql: the
-- unnormalised rows are found once (partial index of marketing migration 0004), not looked
-- up per incoming row.
WITH unnormalised AS (
    SELECT {stored_key_r} AS mk, min(r.id) AS id
      FROM {target} r
     WHERE r.{mk} <> {stored_key_r}
     GROUP BY 1
)
UPDATE {target} t
   SET {mk} = i.{mk}, updated_at = now()
  FROM unnormalised n
  JOIN incoming i ON i.{mk} = n.mk
 WHERE t.id = n.id AND NOT i.is_deleted AND i.skip_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM {target} u WHERE u.{mk} = i.{mk});

-- The key is held by another record's active row, which keeps it (unless that record lets
-- go of the key in this same batch: another key, or deleted), or by a marketing row without a
-- Salesforce Id while this record already has a row of its own; or, among records of the
-- batch that do not hold it yet, a lower Id takes it. The same decision in a differential and
-- a full sync: the row that holds a key keeps it.
UPDATE incoming i SET skip_reason = 'duplicate_match_key'
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.{mk} IS NOT NULL
   AND (EXISTS (SELECT 1 FROM {target} t
                 WHERE t.{mk} = i.{mk} AND t.archived_at IS NULL
                   AND ((t.sf_id IS NOT NULL AND t.sf_id <> i.sf_id
                         AND NOT EXISTS (SELECT 1 FROM incoming j
                                          WHERE j.sf_id = t.sf_id AND j.skip_reason IS NULL
                                            AND (j.is_deleted OR j.{mk} IS DISTINCT FROM i.{mk})))
                        OR (t.sf_id IS NULL AND EXISTS (SELECT 1 FROM {target} o WHERE o.sf_id = i.sf_id))))
        OR EXISTS (SELECT 1 FROM incoming j
                    WHERE j.{mk} = i.{mk} AND NOT j.is_deleted AND j.skip_reason IS NULL AND j.sf_id < i.sf_id
                      AND NOT EXISTS (SELECT 1 FROM {target} t
                                       WHERE t.sf_id = i.sf_id AND t.{mk} = i.{mk} AND t.archived_at IS NULL)));

-- A marketing row that has the key but no Salesforce Id yet is claimed by the record.
WITH claimed AS (
    UPDATE {target} t
       SET sf_id = i.sf_id, updated_at = now()
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.{mk} IS NOT NULL
       AND t.{mk} = i.{mk} AND t.sf_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM {target} u WHERE u.sf_id = i.sf_id)
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM claimed WHERE incoming.sf_id = claimed.sf_id;

-- The row still holding a key the record takes let go of it: its own record moved to another
-- key in this batch (the upsert gives it that key), or it is archived (deleted in Salesforce).
UPDATE {target} t
   SET {mk} = NULL, updated_at = now()
  FROM incoming i
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.{mk} IS NOT NULL
   AND t.{mk} = i.{mk} AND t.sf_id IS NOT NULL AND t.sf_id <> i.sf_id;
