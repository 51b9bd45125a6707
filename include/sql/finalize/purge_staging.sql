-- Staged batches of runs that finished longer ago than the retention are purged, with the
-- runs' validation verdicts.
WITH expired AS (
    SELECT run_id FROM crm_sync.sync_runs WHERE finished_at < now() - make_interval(days => %(days)s)
), verdicts AS (
    DELETE FROM crm_staging.rejected WHERE run_id IN (SELECT run_id FROM expired)
)
DELETE FROM crm_staging.records
 WHERE run_id IN (SELECT run_id FROM expired)
