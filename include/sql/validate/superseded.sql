-- Older versions of a record staged twice in one batch (e.g. it changed during a Bulk
-- extract): only the newest is validated and loaded; the others are skipped, said why.
-- Records staged without an Id (sf_id '') are not versions of one record.
INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)
SELECT run_id, row_id, sf_id, 'superseded_in_batch'
  FROM (SELECT run_id, row_id, sf_id,
               row_number() OVER (PARTITION BY sf_id ORDER BY system_modstamp DESC, row_id DESC) AS version
          FROM crm_staging.records
         WHERE run_id = %(run_id)s AND sf_id <> '') v
 WHERE version > 1
