-- Each marketing row remembers the SystemModstamp of the Salesforce record it carries, so a
-- load never replaces it with an older version (a late differential finishing after a full
-- sync). People carry two records: the Lead's and the Contact's version apart.
ALTER TABLE people ADD COLUMN IF NOT EXISTS lead_sf_system_modstamp timestamptz;
ALTER TABLE people ADD COLUMN IF NOT EXISTS contact_sf_system_modstamp timestamptz;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS sf_system_modstamp timestamptz;
ALTER TABLE opportunities ADD COLUMN IF NOT EXISTS sf_system_modstamp timestamptz;
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS sf_system_modstamp timestamptz;

-- Match keys are stored normalised (docs/mappings.md, "Match keys"): emails trimmed of every
-- blank and lower-cased, external ids trimmed. Keys written before (or by the marketing side)
-- take that form unless another row already has it; the load normalises the rest when a
-- record with that key arrives, found through these small partial indexes (only rows whose
-- key is not normalised are in them).
UPDATE people p SET email = lower(btrim(p.email, E' \t\n\r\f\x0b\u00a0'))
 WHERE p.email <> lower(btrim(p.email, E' \t\n\r\f\x0b\u00a0'))
   AND lower(btrim(p.email, E' \t\n\r\f\x0b\u00a0')) <> ''
   AND NOT EXISTS (SELECT 1 FROM people q WHERE q.email = lower(btrim(p.email, E' \t\n\r\f\x0b\u00a0')))
   AND p.id = (SELECT min(r.id) FROM people r
                WHERE lower(btrim(r.email, E' \t\n\r\f\x0b\u00a0')) = lower(btrim(p.email, E' \t\n\r\f\x0b\u00a0')));
UPDATE accounts a SET external_id = NULLIF(btrim(a.external_id, E' \t\n\r\f\x0b\u00a0'), '')
 WHERE a.external_id <> btrim(a.external_id, E' \t\n\r\f\x0b\u00a0')
   AND NOT EXISTS (SELECT 1 FROM accounts b WHERE b.external_id = btrim(a.external_id, E' \t\n\r\f\x0b\u00a0'))
   AND a.id = (SELECT min(c.id) FROM accounts c
                WHERE btrim(c.external_id, E' \t\n\r\f\x0b\u00a0') = btrim(a.external_id, E' \t\n\r\f\x0b\u00a0'));

CREATE INDEX IF NOT EXISTS people_email_unnormalised ON people (lower(btrim(email, E' \t\n\r\f\x0b\u00a0')))
 WHERE email <> lower(btrim(email, E' \t\n\r\f\x0b\u00a0'));
CREATE INDEX IF NOT EXISTS accounts_external_id_unnormalised ON accounts (btrim(external_id, E' \t\n\r\f\x0b\u00a0'))
 WHERE external_id <> btrim(external_id, E' \t\n\r\f\x0b\u00a0');
