-- Fields sales sees on a Lead or Contact (issue 16, docs/mappings.md "Hard bounces" and
-- "Fields Salesforce may not have yet"):
--   hard_bounced_at, bounce_reason   the hard bounce, both ways and sticky (`set_wins`):
--                                    EmailBouncedDate / EmailBouncedReason in Salesforce;
--   first/last touch channel and source, last_activity_at
--                                    marketing-owned (`to_crm`), written to custom fields the
--                                    set-up command creates (`python -m crm_sync.setup_fields`).
ALTER TABLE people
    ADD COLUMN IF NOT EXISTS hard_bounced_at     timestamptz,
    ADD COLUMN IF NOT EXISTS bounce_reason       text,
    ADD COLUMN IF NOT EXISTS first_touch_channel text,
    ADD COLUMN IF NOT EXISTS first_touch_source  text,
    ADD COLUMN IF NOT EXISTS last_touch_channel  text,
    ADD COLUMN IF NOT EXISTS last_touch_source   text,
    ADD COLUMN IF NOT EXISTS last_activity_at    timestamptz;
