-- Records merged away in Salesforce (deleted with MasterRecordId): the loser's person hands
-- its marketing-owned values to the master's person (opt-outs OR, numbers and dates
-- the higher, other values only where the master's is empty), queued for the write-back so
-- the master in Salesforce gets them too; then the loser's person is archived 'merged',
-- remembering the master's Id (or only unlinked while the other object still links it).
-- Runs before people_delete.sql. Placeholders: {idcol}, {othercol}, {other_object},
-- {aggregates} (l.* per master), {combined} (m.* with x.*), {changed} (names of the changed
-- columns, or NULL), {set_list} (column = c.column, …).
WITH merged AS (
    SELECT i.sf_id, i.master_record_id, l.id AS loser_id, m.id AS master_id
      FROM incoming i
      JOIN people l ON l.{idcol} = i.sf_id AND l.archived_at IS NULL
      LEFT JOIN people m ON m.{idcol} = i.master_record_id AND m.archived_at IS NULL
     WHERE i.is_deleted AND i.master_record_id IS NOT NULL AND i.skip_reason IS NULL
       AND l.id IS DISTINCT FROM m.id
), losers AS (
    SELECT g.master_id, {aggregates}
      FROM merged g JOIN people l ON l.id = g.loser_id
     WHERE g.master_id IS NOT NULL
     GROUP BY g.master_id
), carried AS (
    SELECT m.id, {combined}, array_remove(ARRAY[{changed}]::text[], NULL) AS fields
      FROM losers x JOIN people m ON m.id = x.master_id
), updated AS (
    UPDATE people m
       SET {set_list}
      FROM carried c
     WHERE m.id = c.id AND cardinality(c.fields) > 0
 RETURNING m.id, c.fields
), queued AS (
    INSERT INTO crm_outbox AS o (tbl, row_id, change_seq, fields, base, is_new, first_changed_at, last_changed_at)
    SELECT 'people', u.id, nextval('crm_outbox_seq'), u.fields, '{{}}', false, clock_timestamp(), clock_timestamp()
      FROM updated u
    ON CONFLICT (tbl, row_id) DO UPDATE
       SET change_seq = EXCLUDED.change_seq,
           fields = ARRAY(SELECT DISTINCT f FROM unnest(o.fields || EXCLUDED.fields) AS f ORDER BY f),
           last_changed_at = EXCLUDED.last_changed_at
), archived AS (
    UPDATE people l
       SET archived_at = now(), archive_reason = 'merged', merged_into_sf_id = g.master_record_id,
           updated_at = now()
      FROM merged g
     WHERE l.id = g.loser_id AND l.{othercol} IS NULL
 RETURNING g.sf_id
), unlinked AS (
    UPDATE people l
       SET {idcol} = NULL, sf_object = {other_object}, updated_at = now()
      FROM merged g
     WHERE l.id = g.loser_id AND l.{othercol} IS NOT NULL
 RETURNING g.sf_id
)
UPDATE incoming SET outcome = 'archived'
 WHERE sf_id IN (SELECT sf_id FROM archived UNION ALL SELECT sf_id FROM unlinked)
