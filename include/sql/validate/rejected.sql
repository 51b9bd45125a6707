-- The run's verdicts: each row Great Expectations failed, with its reasons.
INSERT INTO crm_staging.rejected (run_id, row_id, reasons)
SELECT %(run_id)s, f.row_id, string_to_array(f.reasons, E'\n')
  FROM unnest(%(row_ids)s::bigint[], %(reasons)s::text[]) AS f(row_id, reasons)
