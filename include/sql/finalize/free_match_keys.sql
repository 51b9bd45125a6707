-- Of the blocked records (sf_id, normalised key), those whose match key no active row of
-- another record holds any more. The same rule as records_match_key.sql. Placeholders:
-- target, mk, stored_key (the normalised form of t.mk).
SELECT b.sf_id
  FROM unnest(%(sf_ids)s::text[], %(keys)s::text[]) AS b(sf_id, key)
 WHERE NOT EXISTS (SELECT 1 FROM {target} t
                    WHERE (t.{mk} = b.key OR (t.{mk} <> {stored_key} AND {stored_key} = b.key))
                      AND t.archived_at IS NULL
                      AND ((t.sf_id IS NOT NULL AND t.sf_id <> b.sf_id)
                           OR (t.sf_id IS NULL AND EXISTS (SELECT 1 FROM {target} o WHERE o.sf_id = b.sf_id))))
