-- Campaign members: the marketing side's list membership, one row per CampaignMember, linked
-- to its person (person_id, through the member's Contact or Lead). A row the marketing side
-- adds (campaign_sf_id and person_id, no sf_id) becomes a CampaignMember in the write-back.
-- Also the marketing-owned Campaign field the write-back writes (campaign.yaml, to_crm).
CREATE TABLE IF NOT EXISTS campaign_members (
    id                  bigserial   PRIMARY KEY,
    sf_id               text UNIQUE,
    campaign_sf_id      text,
    person_id           bigint,
    contact_sf_id       text,
    lead_sf_id          text,
    status              text,
    has_responded       boolean,
    sf_system_modstamp  timestamptz,
    archived_at         timestamptz,
    archive_reason      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS campaign_members_campaign ON campaign_members (campaign_sf_id);
CREATE INDEX IF NOT EXISTS campaign_members_person ON campaign_members (person_id);

CREATE OR REPLACE TRIGGER crm_track_insert AFTER INSERT ON campaign_members
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE OR REPLACE TRIGGER crm_track_update AFTER UPDATE ON campaign_members
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();

ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS emails_sent numeric;
