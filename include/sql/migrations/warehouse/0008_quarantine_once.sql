-- Quarantine: one open row per record and set of reasons. A run that quarantines a record
-- for the same reasons again refreshes that row (run, staged row, payload, last seen); other
-- reasons get their own row. `record_key` is the record's Id, or for a record staged without
-- one (sf_id '') the hash of its payload, the only identity such a record has.
ALTER TABLE crm_quarantine.records ADD COLUMN last_seen_at timestamptz;
UPDATE crm_quarantine.records SET last_seen_at = quarantined_at;
ALTER TABLE crm_quarantine.records ALTER COLUMN last_seen_at SET NOT NULL,
                                   ALTER COLUMN last_seen_at SET DEFAULT now();
ALTER TABLE crm_quarantine.records ADD COLUMN record_key text NOT NULL
    GENERATED ALWAYS AS (CASE WHEN sf_id <> '' THEN sf_id ELSE md5(payload::text) END) STORED;

-- The duplicates earlier runs left: the newest row of each group stays, first seen at the
-- group's first quarantine and last seen at its last; the others go.
WITH ranked AS (
    SELECT quarantine_id,
           row_number() OVER same_record AS n,
           min(quarantined_at) OVER (PARTITION BY object, record_key, reasons) AS first_seen,
           max(quarantined_at) OVER (PARTITION BY object, record_key, reasons) AS last_seen
      FROM crm_quarantine.records
     WHERE status = 'open'
    WINDOW same_record AS (PARTITION BY object, record_key, reasons ORDER BY run_id DESC, quarantine_id DESC)
), kept AS (
    UPDATE crm_quarantine.records q
       SET quarantined_at = r.first_seen, last_seen_at = r.last_seen
      FROM ranked r
     WHERE r.quarantine_id = q.quarantine_id AND r.n = 1
)
DELETE FROM crm_quarantine.records q
 USING ranked r
 WHERE r.quarantine_id = q.quarantine_id AND r.n > 1;

CREATE UNIQUE INDEX quarantine_open_once ON crm_quarantine.records (object, record_key, reasons)
 WHERE status = 'open';

-- Each run's validation verdicts, kept with its staged batch: the load leaves these rows out,
-- also in a dry run, which writes no quarantine rows. Purged with the batch.
CREATE TABLE crm_staging.rejected (
    run_id   bigint NOT NULL,
    row_id   bigint NOT NULL,
    reasons  text[] NOT NULL,
    PRIMARY KEY (run_id, row_id)
);
