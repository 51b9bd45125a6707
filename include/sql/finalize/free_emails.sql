-- Of the blocked records (sf_id, normalised email), those whose email no live person linked
-- to another record of this object holds any more: the holder changed its email, was deleted,
-- archived or converted. The same rule as people_duplicates.sql. Placeholders: idcol,
-- stored_key (the normalised form of p.email).
SELECT b.sf_id
  FROM unnest(%(sf_ids)s::text[], %(keys)s::text[]) AS b(sf_id, key)
 WHERE NOT EXISTS (SELECT 1 FROM people p
                    WHERE (p.email = b.key OR (p.email <> {stored_key} AND {stored_key} = b.key))
                      AND p.{idcol} IS NOT NULL AND p.{idcol} <> b.sf_id AND p.archived_at IS NULL)
