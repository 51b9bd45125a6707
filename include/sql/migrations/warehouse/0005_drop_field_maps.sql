-- crm_mapping.field_maps was rewritten before every run and never read: the mappings are
-- read from include/mappings/ by the code that needs them. The value maps stay: the
-- transform joins them.
DROP TABLE IF EXISTS crm_mapping.field_maps;
