-- Drift between Salesforce's Ids (staged for this run), what the sync last processed
-- (crm_sync.synced_records) and the marketing side (temp table marketing_ids, with the hash of
-- each row's Salesforce-owned values as it is now).
-- Only versions older than the watermark count: newer ones are the next differential's job.
-- One row per drifted record: (sf_id, kind).
WITH salesforce AS (
    SELECT DISTINCT ON (sf_id) sf_id, system_modstamp, is_deleted,
           COALESCE((payload ->> 'IsConverted')::boolean, false) AS is_converted
      FROM crm_staging.records WHERE run_id = %(run_id)s
     ORDER BY sf_id, system_modstamp DESC
), synced AS (
    SELECT sf_id, system_modstamp, outcome, value_hash FROM crm_sync.synced_records WHERE object = %(object)s
), compared AS (
    SELECT s.sf_id,
           CASE
             WHEN s.is_deleted THEN CASE WHEN m.active THEN 'deleted_but_present' END
             WHEN y.sf_id IS NULL THEN 'missing'                  -- never processed
             WHEN s.system_modstamp > y.system_modstamp THEN 'stale'
             WHEN y.outcome = 'published' AND m.active IS NOT TRUE AND NOT s.is_converted
               THEN 'missing'                                     -- lost from marketing
             WHEN y.outcome = 'published' AND m.active AND y.value_hash IS NOT NULL
                  AND m.value_hash IS DISTINCT FROM y.value_hash
               THEN 'value_drift'                                 -- the row's values changed since
           END AS kind
      FROM salesforce s
      LEFT JOIN synced y USING (sf_id)
      LEFT JOIN marketing_ids m USING (sf_id)
     WHERE s.system_modstamp < %(watermark)s
)
SELECT sf_id, kind FROM compared WHERE kind IS NOT NULL
UNION ALL
SELECT m.sf_id, 'gone_but_present'
  FROM marketing_ids m
 WHERE m.active AND NOT EXISTS (SELECT 1 FROM salesforce s WHERE s.sf_id = m.sf_id);
