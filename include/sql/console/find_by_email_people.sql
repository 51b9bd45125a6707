-- Salesforce Ids of the marketing person with an email (marketing database). Binds: %(email)s.
SELECT contact_sf_id, lead_sf_id
  FROM people
 WHERE email = lower(trim(%(email)s));
