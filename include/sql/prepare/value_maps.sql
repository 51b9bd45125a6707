-- The value maps of include/mappings/values/, as the transform joins them: replaced whole.
INSERT INTO crm_mapping.value_maps (map_name, crm_value, marketing_value)
SELECT * FROM unnest(%(names)s::text[], %(crm_values)s::text[], %(marketing_values)s::text[]);
