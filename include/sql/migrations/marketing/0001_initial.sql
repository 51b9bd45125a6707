-- The marketing database: one person per email, plus accounts, opportunities and campaigns.
-- No foreign keys between synced tables: objects sync independently.
CREATE TABLE people (
    id               bigserial   PRIMARY KEY,
    email            text        NOT NULL UNIQUE,
    first_name       text,
    last_name        text,
    company          text,
    phone            text,
    title            text,
    city             text,
    country          text,
    lead_source      text,
    lead_stage       text,
    status           text,
    account_sf_id    text,
    owner_sf_id      text,
    unsubscribed     boolean     NOT NULL DEFAULT false,
    lead_score       numeric,
    last_visit_at    timestamptz,
    lead_sf_id       text UNIQUE,
    contact_sf_id    text UNIQUE,
    sf_object        text,                    -- Lead or Contact: whose values the row carries
    archived_at      timestamptz,             -- set when deleted in Salesforce; excluded from sends
    archive_reason   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id              bigserial   PRIMARY KEY,
    sf_id           text UNIQUE,
    external_id     text UNIQUE,
    name            text,
    account_type    text,
    industry        text,
    website         text,
    phone           text,
    annual_revenue  numeric,
    employees       integer,
    city            text,
    country         text,
    owner_sf_id     text,
    archived_at     timestamptz,
    archive_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE opportunities (
    id                bigserial   PRIMARY KEY,
    sf_id             text UNIQUE,
    name              text,
    account_sf_id     text,
    stage             text,
    amount            numeric,
    close_date        date,
    probability       numeric,
    opportunity_type  text,
    lead_source       text,
    is_closed         boolean,
    is_won            boolean,
    campaign_sf_id    text,
    owner_sf_id       text,
    archived_at       timestamptz,
    archive_reason    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id              bigserial   PRIMARY KEY,
    sf_id           text UNIQUE,
    name            text,
    campaign_type   text,
    status          text,
    start_date      date,
    end_date        date,
    is_active       boolean,
    budgeted_cost   numeric,
    actual_cost     numeric,
    parent_sf_id    text,
    owner_sf_id     text,
    archived_at     timestamptz,
    archive_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
