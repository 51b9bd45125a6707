-- Marketing activity: what the marketing app records about a person (email sends, opens,
-- clicks, form fills, visits). The write-back writes it to Salesforce as Tasks on the
-- person's Contact or Lead (include/activity.yaml, docs/writeback.md). The crm_* columns are
-- the sync's bookkeeping, set only after a row's Salesforce result is saved in the warehouse.
CREATE TABLE marketing_activities (
    id              bigserial   PRIMARY KEY,
    person_id       bigint      NOT NULL,              -- people.id (no foreign key: people sync on their own)
    kind            text        NOT NULL
                    CHECK (kind IN ('email_send', 'email_open', 'email_click', 'form_fill', 'visit')),
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    subject         text,                              -- email subject, form name or page title
    detail          text,                              -- link clicked, page address, form answers
    campaign        text,                              -- the marketing campaign or email program
    created_at      timestamptz NOT NULL DEFAULT now(),
    crm_written_at  timestamptz,                       -- null: not written to Salesforce yet
    crm_outcome     text        CHECK (crm_outcome IN ('written', 'failed', 'skipped')),
    crm_sf_id       text                               -- the Task (or custom record) it became
);
CREATE INDEX marketing_activities_pending ON marketing_activities (id) WHERE crm_written_at IS NULL;
CREATE INDEX marketing_activities_person ON marketing_activities (person_id, occurred_at);

-- This database's prefix of the external ids its activity gets in Salesforce, so two marketing
-- databases (or a rebuilt one, whose ids start again at 1) never write over each other's Tasks.
CREATE TABLE marketing_activity_namespace (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    prefix    text    NOT NULL DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 10)
);
INSERT INTO marketing_activity_namespace DEFAULT VALUES;
