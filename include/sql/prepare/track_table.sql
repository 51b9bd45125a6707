-- Change tracking on a marketing table the sync writes (the function comes from migration
-- marketing/0002_change_tracking.sql). Placeholders: {table}.
CREATE OR REPLACE TRIGGER crm_track_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
CREATE OR REPLACE TRIGGER crm_track_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_track_changes();
