-- Records matched by a key other than the Salesforce Id ({mk}, e.g. an external id).
-- Two records of one batch with the same key: the lowest Id keeps it.
UPDATE incoming i SET skip_reason = 'duplicate_match_key'
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.{mk} IS NOT NULL
   AND EXISTS (SELECT 1 FROM incoming j
                WHERE j.{mk} = i.{mk} AND NOT j.is_deleted AND j.skip_reason IS NULL AND j.sf_id < i.sf_id);

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

-- A key that moved to this record is released by the row that held it before.
UPDATE {target} t
   SET {mk} = NULL, updated_at = now()
  FROM incoming i
 WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.{mk} IS NOT NULL
   AND t.{mk} = i.{mk} AND t.sf_id IS NOT NULL AND t.sf_id <> i.sf_id;
