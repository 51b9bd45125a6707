-- Emails are stored normalised (docs/mappings.md, "Match keys"); the incoming side is
-- normalised by the transform. A stored email not yet in that form (written before, or by the
-- marketing side) takes it when a record with that email arrives, unless another person has
-- it already, so every later statement compares equal forms; of several stored forms of one
-- email, the oldest person's. The unnormalised people are found once, through the small
-- partial index `people_email_unnormalised` (marketing migration 0004), then joined with
-- the batch: a lookup per incoming row (the lowest id of a form) made the planner walk the
-- whole of `people` by id for every incoming email, which no stored email matches in a first
-- sync (hours for 250,000 Leads after a million Contacts). Placeholder: stored_key_r, the
-- normalised form of `r.email`.
WITH unnormalised AS (
    SELECT {stored_key_r} AS email, min(r.id) AS id
      FROM people r
     WHERE r.email <> {stored_key_r}
     GROUP BY 1
)
UPDATE people p
   SET email = i.email, updated_at = now()
  FROM unnormalised u
  JOIN incoming i ON i.email = u.email
 WHERE p.id = u.id AND NOT i.is_deleted AND i.skip_reason IS NULL
   AND NOT EXISTS (SELECT 1 FROM people q WHERE q.email = i.email)
