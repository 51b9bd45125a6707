-- The external id a write-back upserted a record by, when the record has no marketing row of
-- its own: marketing activity written as Tasks (`event:<activity id>`, `day:<person id>:<date>`).
ALTER TABLE crm_sync.writeback_results ADD COLUMN external_id text;
CREATE INDEX writeback_results_external_id ON crm_sync.writeback_results (object, external_id)
    WHERE external_id IS NOT NULL;
