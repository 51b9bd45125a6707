-- Pending changes that touch no mapped column (marketing-only columns): nothing for
-- Salesforce. Parameters: table, columns (the mapped columns of the table).
DELETE FROM crm_outbox o
 WHERE o.tbl = %(table)s AND NOT (o.fields && %(columns)s::text[])
