-- The run's rejected rows into quarantine, one open row per record and set of reasons: a
-- record already open for the same reasons has that row refreshed (run, staged row, payload,
-- last seen; unless a later run saw it), keeping when it was first quarantined. Records
-- staged without an Id are told apart by their payload (record_key); identical ones are one.
INSERT INTO crm_quarantine.records (run_id, row_id, object, sf_id, reasons, payload)
SELECT DISTINCT ON (CASE WHEN r.sf_id <> '' THEN r.sf_id ELSE md5(r.payload::text) END, f.reasons)
       f.run_id, f.row_id, %(object)s, r.sf_id, f.reasons, r.payload
  FROM crm_staging.rejected f
  JOIN crm_staging.records r ON r.run_id = f.run_id AND r.row_id = f.row_id
 WHERE f.run_id = %(run_id)s
   -- a row an operator settled while this run was retried stays settled
   AND NOT EXISTS (SELECT 1 FROM crm_quarantine.records d
                    WHERE d.run_id = f.run_id AND d.row_id = f.row_id AND d.status <> 'open')
 ORDER BY CASE WHEN r.sf_id <> '' THEN r.sf_id ELSE md5(r.payload::text) END, f.reasons, f.row_id DESC
ON CONFLICT (object, record_key, reasons) WHERE status = 'open' DO UPDATE
   SET run_id = EXCLUDED.run_id, row_id = EXCLUDED.row_id, payload = EXCLUDED.payload, last_seen_at = now()
 WHERE crm_quarantine.records.run_id <= EXCLUDED.run_id
