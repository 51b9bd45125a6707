-- Marketing segments and lists, by person: what a mapping's `writeback: {scope: <segment>}`
-- reads (crm_sync.writeback.scope). The marketing app adds and removes rows; only people in
-- the scope's segment are created or updated in Salesforce. `queued_at` is the write-back's:
-- null until it has queued a person who entered the segment, so the person's marketing
-- values are written once on entering (a person who leaves and comes back is queued again).
CREATE TABLE crm_segment_members (
    segment    text        NOT NULL,
    person_id  bigint      NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    queued_at  timestamptz,
    PRIMARY KEY (segment, person_id)
);
CREATE INDEX crm_segment_members_person ON crm_segment_members (person_id);
CREATE INDEX crm_segment_members_entered ON crm_segment_members (segment) WHERE queued_at IS NULL;
