-- Pending changes of rows deleted on the marketing side: nothing left to write back.
-- Placeholders: {table}. Parameters: table.
DELETE FROM crm_outbox o
 WHERE o.tbl = %(table)s AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = o.row_id)
