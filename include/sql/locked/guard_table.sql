-- The locked-fields guard on a marketing table (the function comes from migration
-- marketing/0012_locked_fields.sql). The sync's own writes (crm_sync.origin 'crm' or
-- 'writeback') never fire it. Placeholders: {table}.
CREATE OR REPLACE TRIGGER crm_locked_fields_guard BEFORE UPDATE ON {table}
    FOR EACH ROW WHEN (coalesce(current_setting('crm_sync.origin', true), '') NOT IN ('crm', 'writeback'))
    EXECUTE FUNCTION crm_guard_locked_fields();
