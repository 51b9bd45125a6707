-- Write-back to Salesforce (docs/writeback.md): per-record results and pending refreshes.

-- The sync log counts a write-back run's records as created / updated / unchanged / skipped
-- (with reasons) / failed; `retried` counts the records that needed more than one attempt.
ALTER TABLE crm_sync.sync_runs ADD COLUMN IF NOT EXISTS failed integer NOT NULL DEFAULT 0;
ALTER TABLE crm_sync.sync_runs ADD COLUMN IF NOT EXISTS retried integer NOT NULL DEFAULT 0;

-- One row per Salesforce record a write-back run considered: what it wrote, or why not.
CREATE TABLE crm_sync.writeback_results (
    result_id        bigserial   PRIMARY KEY,
    run_id           bigint      NOT NULL,
    object           text        NOT NULL,              -- Salesforce object
    sf_id            text,                              -- null for a record that could not be created
    marketing_table  text        NOT NULL,
    marketing_id     bigint      NOT NULL,
    operation        text        NOT NULL,              -- update | insert | upsert | none
    outcome          text        NOT NULL,              -- created | updated | unchanged | skipped | failed | deferred
    reason           text,                              -- skip or defer reason, or Salesforce's error code
    error            text,                              -- Salesforce's error message for a failed record
    written          text[]      NOT NULL DEFAULT '{}', -- Salesforce fields sent
    restored         text[]      NOT NULL DEFAULT '{}', -- marketing edits of Salesforce-owned values, overwritten from Salesforce
    conflicts        jsonb       NOT NULL DEFAULT '{}', -- field -> how a conflict on a `both` field resolved
    attempts         integer     NOT NULL DEFAULT 0,
    job_ids          text[]      NOT NULL DEFAULT '{}', -- Bulk API 2.0 ingest jobs
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX writeback_results_run ON crm_sync.writeback_results (run_id);
CREATE INDEX writeback_results_record ON crm_sync.writeback_results (object, sf_id);

-- Salesforce records whose values must be read again into the marketing database: Leads the
-- write-back created, records it linked, and records whose Salesforce-owned values were
-- edited on the marketing side (or lost a conflict there). Kept until the refresh loaded them.
CREATE TABLE crm_sync.writeback_refresh (
    object        text        NOT NULL,
    sf_id         text        NOT NULL,
    reason        text        NOT NULL,
    run_id        bigint      NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, sf_id)
);
