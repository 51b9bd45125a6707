-- Routing reference data, refreshed by the full sync with the users (crm_sync.routing_data):
-- the queues records can be owned by (and which objects each takes), the Lead and Case
-- assignment rules, and the Case priorities. Something gone from Salesforce is kept with
-- is_active false and removed_at set, so rows that point at it stay explainable.
CREATE TABLE crm_queues (
    sf_id           text PRIMARY KEY,
    name            text NOT NULL,
    developer_name  text,
    email           text,
    sobject_types   text[] NOT NULL DEFAULT '{}',
    is_active       boolean NOT NULL DEFAULT true,
    removed_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_assignment_rules (
    sf_id         text PRIMARY KEY,
    name          text NOT NULL,
    sobject_type  text NOT NULL,
    is_active     boolean NOT NULL,  -- Salesforce's Active flag (false once removed)
    removed_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crm_case_priorities (
    value       text PRIMARY KEY,
    label       text,
    is_default  boolean NOT NULL DEFAULT false,
    sort_order  integer NOT NULL,
    is_active   boolean NOT NULL,
    removed_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
