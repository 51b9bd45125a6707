-- Emails are stored normalised (docs/mappings.md, "Match keys"); the incoming side is
-- normalised by the transform. A stored email not yet in that form (written before, or by the
-- marketing side) takes it when a record with that email arrives, unless another person has
-- it already, so every later statement compares equal forms. Found through the small partial
-- index `people_email_unnormalised` (marketing migration 0004). Placeholders: stored_key and
-- stored_key_r, the normalised form of `p.email` and of `r.email`.
UPDATE people p
   SET email = i.email, updated_at = now()
  FROM incoming i
 WHERE i.email IS NOT NULL AND NOT i.is_deleted AND i.skip_reason IS NULL
   AND p.email <> {stored_key} AND {stored_key} = i.email
   AND NOT EXISTS (SELECT 1 FROM people q WHERE q.email = i.email)
   AND p.id = (SELECT min(r.id) FROM people r WHERE r.email <> {stored_key_r} AND {stored_key_r} = i.email)
