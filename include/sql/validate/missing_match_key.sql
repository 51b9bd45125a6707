-- Live records without a match key cannot find a marketing row: skipped, said why.
INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)
SELECT r.run_id, r.row_id, r.sf_id, {reason}
  FROM crm_staging.records r
 WHERE r.run_id = %(run_id)s AND NOT r.is_deleted AND {missing}
ON CONFLICT DO NOTHING
