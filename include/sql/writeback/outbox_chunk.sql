-- The next pending changes of one marketing table, oldest first, with the row as it is now
-- and when each of its columns last changed on the marketing side.
-- Placeholders: {table}, {columns} (t.<column> list). Parameters: table, after, upto, size.
SELECT o.row_id      AS wb_row_id,
       o.change_seq  AS wb_seq,
       o.fields      AS wb_fields,
       o.base        AS wb_base,
       o.is_new      AS wb_is_new,
       (SELECT jsonb_object_agg(c.field, c.changed_at)
          FROM crm_field_changes c
         WHERE c.tbl = o.tbl AND c.row_id = o.row_id AND c.field = ANY (o.fields)) AS wb_changed_at,
       {columns}
  FROM crm_outbox o
  JOIN {table} t ON t.id = o.row_id
 WHERE o.tbl = %(table)s AND o.change_seq > %(after)s AND o.change_seq <= %(upto)s
 ORDER BY o.change_seq
 LIMIT %(size)s
