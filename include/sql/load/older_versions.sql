-- A load never replaces a row with an older version of its record: a record whose marketing
-- row already carries a newer SystemModstamp ({vercol}, e.g. a full sync's that finished
-- first) is skipped as `older_version`. Runs first, under the target's load lock, so no
-- later statement of the load touches the row for it. Placeholders: {target} {idcol} {vercol}.
UPDATE incoming i SET skip_reason = 'older_version'
 WHERE i.skip_reason IS NULL
   AND EXISTS (SELECT 1 FROM {target} t WHERE t.{idcol} = i.sf_id AND t.{vercol} > i.system_modstamp)
