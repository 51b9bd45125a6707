-- The change-tracking triggers present on a marketing table.
SELECT t.tgname
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relname = %(table)s AND c.relnamespace = current_schema()::regnamespace
   AND t.tgname = ANY(%(triggers)s)
