-- Per-record events of runs that started longer ago than the retention are pruned.
DELETE FROM crm_sync.record_events
 WHERE run_id IN (SELECT run_id FROM crm_sync.sync_runs
                   WHERE started_at < now() - make_interval(days => %(days)s))
