-- The per-record event log behind the console's record timeline: one row per record a run
-- processed, with what became of it. Written set-based by each run's finalize; pruned with
-- the staging retention.
CREATE TABLE crm_sync.record_events (
    run_id           bigint      NOT NULL,
    object           text        NOT NULL,
    sf_id            text        NOT NULL,
    system_modstamp  timestamptz,
    outcome          text        NOT NULL,   -- created | updated | unchanged | archived | quarantined | skipped
    reason           text,                   -- the skip or quarantine reason(s)
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_events_record ON crm_sync.record_events (sf_id, run_id);
-- Run ids only grow, so a BRIN index finds a run's events (pruning, retried loads) at almost
-- no cost per inserted row.
CREATE INDEX record_events_run ON crm_sync.record_events USING brin (run_id);

-- How an operator settled a quarantined record (console: replay or dismiss with a note).
ALTER TABLE crm_quarantine.records ADD COLUMN resolution_note text;
ALTER TABLE crm_quarantine.records ADD COLUMN resolved_by text;
