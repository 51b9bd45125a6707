-- Console history: runs matching the filters (each filter is ignored when its bind is null).
-- Binds: %(object)s, %(kind)s, %(status)s, %(date_from)s, %(date_to)s (dates, inclusive), %(limit)s.
SELECT run_id, object, kind, status, dag_run_id, window_start, window_end, extract_method,
       extracted, created, updated, archived, unchanged, quarantined, skipped, failed,
       api_calls, durations, error, started_at, finished_at,
       extract(epoch FROM finished_at - started_at) AS seconds
  FROM crm_sync.sync_runs
 WHERE (%(object)s::text IS NULL OR object = %(object)s::text)
   AND (%(kind)s::text IS NULL OR kind = %(kind)s::text)
   AND (%(status)s::text IS NULL OR status = %(status)s::text)
   AND (%(date_from)s::date IS NULL OR started_at >= %(date_from)s::date)
   AND (%(date_to)s::date IS NULL OR started_at < %(date_to)s::date + 1)
 ORDER BY run_id DESC
 LIMIT %(limit)s;
