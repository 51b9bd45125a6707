-- Each incoming row's outcome, once. A row with an outcome and a skip reason changed
-- something, then stopped (a converted Lead handing its person to the Contact): it counts by
-- its outcome. A skipped row never reaches the upsert: its outcome is the one in `incoming`.
-- A published live row also carries the hash of the Salesforce-owned values it left on its
-- marketing row (placeholder value_hash, over the target row t): reconciliation compares it
-- with the row's hash later to find value drift.
CREATE TEMP TABLE outcomes ON COMMIT DROP AS
SELECT i.row_id, i.sf_id,
       CASE WHEN i.skip_reason IS NOT NULL AND COALESCE(u.outcome, i.outcome, 'unchanged') = 'unchanged'
            THEN 'skipped' ELSE COALESCE(u.outcome, i.outcome, 'unchanged') END AS outcome,
       i.skip_reason,
       CASE WHEN i.skip_reason IS NULL AND NOT i.is_deleted THEN {value_hash} END AS value_hash
  FROM incoming i
  LEFT JOIN upserted u ON u.sf_id = i.sf_id
  LEFT JOIN {target} t ON t.{idcol} = i.sf_id AND t.archived_at IS NULL
