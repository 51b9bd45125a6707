-- Full sync, record sync and reconciliation.

-- Extras a run reports beyond the fixed counts: Bulk range splits, mirror archives,
-- picklist values missing from value maps, ids not found, drift found by reconciliation.
ALTER TABLE crm_sync.sync_runs ADD COLUMN report jsonb NOT NULL DEFAULT '{}';
ALTER TABLE crm_sync.sync_runs ADD COLUMN dry_run boolean NOT NULL DEFAULT false;

-- Bulk API 2.0 query jobs of a run, one per SystemModstamp range; pages are committed one
-- by one with the locator of the next, so a retried task resumes instead of downloading again.
CREATE TABLE crm_sync.bulk_jobs (
    run_id        bigint      NOT NULL,
    range_start   timestamptz NOT NULL,
    range_end     timestamptz NOT NULL,
    job_id        text,
    state         text        NOT NULL DEFAULT 'new',     -- new | staging | done | failed | split
    next_locator  text,
    pages_staged  integer     NOT NULL DEFAULT 0,
    rows_staged   bigint      NOT NULL DEFAULT 0,
    error         text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, range_start, range_end)
);

-- The latest version of every record the sync has processed, and what became of it.
-- Reconciliation compares Salesforce's Ids and SystemModstamps with this and the marketing side.
CREATE TABLE crm_sync.synced_records (
    object           text        NOT NULL,
    sf_id            text        NOT NULL,
    system_modstamp  timestamptz NOT NULL,
    is_deleted       boolean     NOT NULL,
    outcome          text        NOT NULL,                 -- published | quarantined | skipped
    run_id           bigint      NOT NULL,
    PRIMARY KEY (object, sf_id)
);

-- Active picklist values from describe, refreshed by the full sync (Salesforce owns them).
CREATE TABLE crm_mapping.picklist_values (
    object        text        NOT NULL,
    field         text        NOT NULL,
    value         text        NOT NULL,
    label         text,
    active        boolean     NOT NULL,
    refreshed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, field, value)
);
