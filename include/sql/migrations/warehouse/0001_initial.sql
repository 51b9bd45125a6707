-- Warehouse: landed batches, mapping tables, quarantine and the sync's own bookkeeping.
CREATE SCHEMA IF NOT EXISTS crm_staging;
CREATE SCHEMA IF NOT EXISTS crm_mapping;
CREATE SCHEMA IF NOT EXISTS crm_quarantine;
CREATE SCHEMA IF NOT EXISTS crm_sync;

-- One row per run and object: the sync log users read. run_id is also the staging batch id.
CREATE TABLE crm_sync.sync_runs (
    run_id            bigserial PRIMARY KEY,
    object            text        NOT NULL,
    kind              text        NOT NULL,            -- differential | full | record | reconcile
    dag_run_id        text,
    status            text        NOT NULL DEFAULT 'running',
    window_start      timestamptz,
    window_end        timestamptz,
    extract_method    text,                            -- rest | bulk
    extracted         integer     NOT NULL DEFAULT 0,
    staged            integer     NOT NULL DEFAULT 0,
    valid             integer     NOT NULL DEFAULT 0,
    quarantined       integer     NOT NULL DEFAULT 0,
    skipped           integer     NOT NULL DEFAULT 0,
    skipped_reasons   jsonb       NOT NULL DEFAULT '{}',
    created           integer     NOT NULL DEFAULT 0,
    updated           integer     NOT NULL DEFAULT 0,
    archived          integer     NOT NULL DEFAULT 0,
    unchanged         integer     NOT NULL DEFAULT 0,
    api_calls         integer     NOT NULL DEFAULT 0,
    durations         jsonb       NOT NULL DEFAULT '{}',
    watermark_before  timestamptz,
    watermark_after   timestamptz,
    error             text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE INDEX sync_runs_object_started ON crm_sync.sync_runs (object, started_at DESC);

CREATE TABLE crm_sync.watermarks (
    object      text        NOT NULL,
    direction   text        NOT NULL,                  -- from_crm | to_crm
    watermark   timestamptz NOT NULL,
    run_id      bigint,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, direction)
);

-- Named locks, e.g. the full sync holds 'full_sync' while it runs.
CREATE TABLE crm_sync.locks (
    name         text PRIMARY KEY,
    holder       text        NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now()
);

-- Records skipped on purpose, with the reason, per run.
CREATE TABLE crm_sync.skipped (
    run_id  bigint NOT NULL,
    row_id  bigint NOT NULL,
    sf_id   text   NOT NULL,
    reason  text   NOT NULL,
    PRIMARY KEY (run_id, row_id)
);

-- Landed records, append-only; the raw payload is kept so a changed mapping never needs a
-- re-extract.
CREATE TABLE crm_staging.records (
    row_id           bigserial   PRIMARY KEY,
    run_id           bigint      NOT NULL,
    sf_id            text        NOT NULL,
    system_modstamp  timestamptz NOT NULL,
    is_deleted       boolean     NOT NULL,
    payload          jsonb       NOT NULL,
    staged_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staging_records_run ON crm_staging.records (run_id, sf_id);

CREATE TABLE crm_quarantine.records (
    quarantine_id   bigserial   PRIMARY KEY,
    run_id          bigint      NOT NULL,
    row_id          bigint      NOT NULL,
    object          text        NOT NULL,
    sf_id           text        NOT NULL,
    reasons         text[]      NOT NULL,
    payload         jsonb       NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    status          text        NOT NULL DEFAULT 'open',   -- open | replayed | superseded
    resolved_at     timestamptz,
    UNIQUE (run_id, row_id)
);
CREATE INDEX quarantine_open ON crm_quarantine.records (object, sf_id) WHERE status = 'open';

-- Mapping tables, reloaded from include/mappings/ before every run.
CREATE TABLE crm_mapping.field_maps (
    object      text NOT NULL,
    source      text NOT NULL,
    target      text NOT NULL,
    target_table text NOT NULL,
    column_type text NOT NULL,
    transform   text NOT NULL,
    direction   text NOT NULL,
    conflict    text,
    value_map   text,
    PRIMARY KEY (object, source)
);
CREATE TABLE crm_mapping.value_maps (
    map_name         text NOT NULL,
    crm_value        text NOT NULL,
    marketing_value  text NOT NULL,
    PRIMARY KEY (map_name, crm_value)
);
