-- Staged batches of runs that finished longer ago than the retention are purged.
DELETE FROM crm_staging.records
 WHERE run_id IN (SELECT run_id FROM crm_sync.sync_runs
                   WHERE finished_at < now() - make_interval(days => %(days)s))
