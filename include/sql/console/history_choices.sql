-- The values the history filters offer.
SELECT array_agg(DISTINCT object ORDER BY object) AS objects,
       array_agg(DISTINCT kind ORDER BY kind) AS kinds,
       array_agg(DISTINCT status ORDER BY status) AS statuses
  FROM crm_sync.sync_runs;
