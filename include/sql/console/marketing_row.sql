-- One marketing row by id; {table} is a quoted identifier. Binds: %(id)s.
SELECT to_jsonb(t) AS row FROM {table} t WHERE t.id = %(id)s;
