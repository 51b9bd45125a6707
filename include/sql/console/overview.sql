-- Console overview: one row per synced object (Salesforce -> marketing direction).
-- Binds: %(objects)s (the mapped objects), %(day_start)s (start of today, UTC), %(recent)s (how many
-- recent runs decide "repeatedly"), %(drift_since)s (how far back schema drift and picklist changes are shown).
WITH objects AS (
    SELECT unnest(%(objects)s::text[]) AS object
    UNION
    SELECT DISTINCT object FROM crm_sync.sync_runs WHERE kind <> 'writeback'
), last_run AS (
    SELECT DISTINCT ON (object) object, run_id, kind, status, started_at, finished_at, error
      FROM crm_sync.sync_runs
     WHERE kind <> 'writeback'
     ORDER BY object, run_id DESC
), last_success AS (
    SELECT object, max(finished_at) AS finished_at
      FROM crm_sync.sync_runs
     WHERE status = 'succeeded' AND kind IN ('differential', 'full')
     GROUP BY object
), recent AS (
    SELECT object, array_agg(status ORDER BY run_id DESC) AS statuses
      FROM (SELECT object, run_id, status,
                   row_number() OVER (PARTITION BY object ORDER BY run_id DESC) AS n
              FROM crm_sync.sync_runs
             WHERE kind IN ('differential', 'full')) ranked
     WHERE n <= %(recent)s
     GROUP BY object
), quarantine AS (
    SELECT object, count(*) AS open_records
      FROM crm_quarantine.records
     WHERE status = 'open'
     GROUP BY object
), reconcile AS (
    SELECT DISTINCT ON (object) object, run_id, extracted, report, finished_at
      FROM crm_sync.sync_runs
     WHERE kind = 'reconcile' AND status = 'succeeded'
     ORDER BY object, run_id DESC
), drift AS (
    SELECT DISTINCT ON (object) object, run_id, report -> 'schema_drift' AS schema_drift,
           report -> 'picklist_changes' AS picklist_changes
      FROM crm_sync.sync_runs
     WHERE (report ? 'schema_drift' OR report ? 'picklist_changes') AND started_at >= %(drift_since)s
     ORDER BY object, run_id DESC
), api_today AS (
    SELECT object, sum(api_calls) AS api_calls
      FROM crm_sync.sync_runs
     WHERE started_at >= %(day_start)s
     GROUP BY object
)
SELECT o.object,
       lr.run_id            AS last_run_id,
       lr.kind              AS last_kind,
       lr.status            AS last_status,
       lr.started_at        AS last_started_at,
       lr.finished_at       AS last_finished_at,
       lr.error             AS last_error,
       ls.finished_at       AS last_success_at,
       w.watermark,
       coalesce(r.statuses, '{}') AS recent_statuses,
       coalesce(q.open_records, 0) AS open_quarantine,
       rc.run_id            AS reconcile_run_id,
       (rc.report ->> 'compared')::bigint AS salesforce_count,
       rc.finished_at       AS reconciled_at,
       coalesce(a.api_calls, 0) AS api_calls_today,
       d.run_id             AS drift_run_id,
       d.schema_drift,
       d.picklist_changes
  FROM objects o
  LEFT JOIN last_run lr ON lr.object = o.object
  LEFT JOIN last_success ls ON ls.object = o.object
  LEFT JOIN crm_sync.watermarks w ON w.object = o.object AND w.direction = 'from_crm'
  LEFT JOIN recent r ON r.object = o.object
  LEFT JOIN quarantine q ON q.object = o.object
  LEFT JOIN reconcile rc ON rc.object = o.object
  LEFT JOIN api_today a ON a.object = o.object
  LEFT JOIN drift d ON d.object = o.object
 ORDER BY o.object;
