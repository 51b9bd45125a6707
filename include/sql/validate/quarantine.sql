-- The rows Great Expectations failed, with their reasons and the payload as staged.
INSERT INTO crm_quarantine.records (run_id, row_id, object, sf_id, reasons, payload)
SELECT r.run_id, r.row_id, %(object)s, r.sf_id, string_to_array(f.reasons, E'\n'), r.payload
  FROM unnest(%(row_ids)s::bigint[], %(reasons)s::text[]) AS f(row_id, reasons)
  JOIN crm_staging.records r ON r.row_id = f.row_id AND r.run_id = %(run_id)s
