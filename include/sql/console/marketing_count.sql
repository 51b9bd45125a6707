-- Active marketing rows of one object (marketing database); {table} and {id_column} are quoted
-- identifiers from the mapping tables. Binds: none.
SELECT count(*) AS n FROM {table} WHERE {id_column} IS NOT NULL AND archived_at IS NULL;
