-- Publish the locked columns computed from the mapping files (crm_sync.locked_fields): rows
-- that changed are written, rows no longer locked are deleted, the others are left alone (a
-- run that changes nothing writes nothing). Parameters: arrays tables, columns, owners,
-- reasons, actions (one entry per locked column).
WITH wanted AS (
    SELECT * FROM unnest(%(tables)s::text[], %(columns)s::text[], %(owners)s::text[], %(reasons)s::text[],
                         %(actions)s::text[]) AS w(table_name, column_name, owner, reason, action)
), dropped AS (
    DELETE FROM crm_locked_fields l
     WHERE NOT EXISTS (SELECT 1 FROM wanted w WHERE w.table_name = l.table_name AND w.column_name = l.column_name)
    RETURNING 1
), written AS (
    INSERT INTO crm_locked_fields AS l (table_name, column_name, owner, reason, action)
    SELECT table_name, column_name, owner, reason, action FROM wanted
    ON CONFLICT (table_name, column_name) DO UPDATE
       SET owner = EXCLUDED.owner, reason = EXCLUDED.reason, action = EXCLUDED.action, updated_at = now()
     WHERE (l.owner, l.reason, l.action) IS DISTINCT FROM (EXCLUDED.owner, EXCLUDED.reason, EXCLUDED.action)
    RETURNING 1
)
SELECT (SELECT count(*) FROM dropped) + (SELECT count(*) FROM written)
