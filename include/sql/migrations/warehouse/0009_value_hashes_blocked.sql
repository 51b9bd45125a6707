-- Value drift: the hash of the Salesforce-owned values a load left on each record's marketing
-- row (computed in the marketing database), kept per run event and as the record's last
-- synced state; reconciliation compares it with the marketing row's hash now.
ALTER TABLE crm_sync.record_events ADD COLUMN IF NOT EXISTS value_hash text;
ALTER TABLE crm_sync.synced_records ADD COLUMN IF NOT EXISTS value_hash text;

-- Records skipped because another record holds their match key (duplicate_email,
-- duplicate_match_key), with that key: when the holder lets go of it (changes its key, is
-- deleted, archived or converted), finalize re-reads them by Id as a repair run.
CREATE TABLE IF NOT EXISTS crm_sync.blocked_records (
    object           text        NOT NULL,
    sf_id            text        NOT NULL,
    reason           text        NOT NULL,
    match_key        text        NOT NULL,   -- the normalised key another record holds
    system_modstamp  timestamptz NOT NULL,   -- the version that was skipped
    run_id           bigint      NOT NULL,
    blocked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, sf_id)
);
