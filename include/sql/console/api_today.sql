-- API calls the sync used today (all kinds), and the org's usage last reported by a run.
-- Binds: %(day_start)s.
SELECT coalesce(sum(api_calls), 0) AS api_calls,
       (SELECT report -> 'api_usage' FROM crm_sync.sync_runs
         WHERE report ? 'api_usage' ORDER BY run_id DESC LIMIT 1) AS api_usage
  FROM crm_sync.sync_runs
 WHERE started_at >= %(day_start)s;
