-- The marketing table of each mapped object. Binds: none.
SELECT DISTINCT ON (object) object, target_table
  FROM crm_mapping.field_maps
 ORDER BY object, target_table;
