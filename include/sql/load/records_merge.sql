-- Records merged away in Salesforce (deleted with MasterRecordId): the loser's row hands its
-- marketing-owned values to the master's row (see people_merge.sql), queued for the
-- write-back; then it is archived 'merged', remembering the master's Id. Runs before
-- records_delete.sql. Placeholders: {target}, {aggregates}, {combined}, {changed}, {set_list}.
WITH merged AS (
    SELECT i.sf_id, i.master_record_id, l.id AS loser_id, m.id AS master_id
      FROM incoming i
      JOIN {target} l ON l.sf_id = i.sf_id AND l.archived_at IS NULL
      LEFT JOIN {target} m ON m.sf_id = i.master_record_id AND m.archived_at IS NULL
     WHERE i.is_deleted AND i.master_record_id IS NOT NULL AND i.skip_reason IS NULL
       AND l.id IS DISTINCT FROM m.id
), losers AS (
    SELECT g.master_id, {aggregates}
      FROM merged g JOIN {target} l ON l.id = g.loser_id
     WHERE g.master_id IS NOT NULL
     GROUP BY g.master_id
), carried AS (
    SELECT m.id, {combined}, array_remove(ARRAY[{changed}]::text[], NULL) AS fields
      FROM losers x JOIN {target} m ON m.id = x.master_id
), updated AS (
    UPDATE {target} m
       SET {set_list}
      FROM carried c
     WHERE m.id = c.id AND cardinality(c.fields) > 0
 RETURNING m.id, c.fields
), queued AS (
    INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
    SELECT {table_name}, u.id, nextval('crm_outbox_seq'), u.fields, '{{}}', false, clock_timestamp(), clock_timestamp()
      FROM updated u
    ON CONFLICT (tbl, row_id) DO UPDATE
       SET change_seq = EXCLUDED.change_seq,
           fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
           last_changed_at = EXCLUDED.last_changed_at
), archived AS (
    UPDATE {target} l
       SET archived_at = now(), archive_reason = 'merged', merged_into_sf_id = g.master_record_id,
           updated_at = now()
      FROM merged g
     WHERE l.id = g.loser_id
 RETURNING g.sf_id
)
UPDATE incoming SET outcome = 'archived' FROM archived WHERE incoming.sf_id = archived.sf_id
