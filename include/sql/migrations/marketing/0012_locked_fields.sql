-- Locked fields (issue 16, docs/writeback.md "Locked fields"): the
-- columns Salesforce owns, published from the mapping files by every run's prepare step
-- (crm_sync.locked_fields), so the marketing app can show them read-only, and guarded: an
-- update by anyone but the sync that changes a locked column of a row linked to Salesforce is
-- rejected (an error naming the table, the column and the Salesforce field that owns it) or
-- reverted at once (a NOTICE says so), per CRM_LOCKED_FIELDS (`action`). Inserts may set any
-- column (a form creating a person), and so may updates of rows not linked to Salesforce yet.
CREATE TABLE crm_locked_fields (
    table_name   text        NOT NULL,
    column_name  text        NOT NULL,
    owner        text        NOT NULL,  -- the Salesforce field(s) that own it: 'Contact.Title, Lead.Title'
    reason       text        NOT NULL,  -- why it is locked, for people
    action       text        NOT NULL CHECK (action IN ('reject', 'revert', 'off')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, column_name)
);

-- BEFORE UPDATE, per row, only for writes that are not the sync's (the trigger's WHEN checks
-- crm_sync.origin, so the inbound load and the write-back's links pay nothing).
CREATE FUNCTION crm_guard_locked_fields() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row  jsonb := to_jsonb(OLD);
    new_row  jsonb := to_jsonb(NEW);
    locked   record;
    reverted jsonb := '{}';
BEGIN
    IF old_row ->> 'sf_id' IS NULL AND old_row ->> 'lead_sf_id' IS NULL AND old_row ->> 'contact_sf_id' IS NULL THEN
        RETURN NEW;  -- not linked to Salesforce yet: the marketing side still owns every value
    END IF;
    FOR locked IN
        SELECT column_name, owner, action FROM crm_locked_fields
         WHERE table_name = TG_TABLE_NAME AND action <> 'off' ORDER BY column_name
    LOOP
        CONTINUE WHEN new_row -> locked.column_name IS NOT DISTINCT FROM old_row -> locked.column_name;
        IF locked.action = 'reject' THEN
            RAISE EXCEPTION '%.% is locked: Salesforce owns it (%)', TG_TABLE_NAME, locked.column_name, locked.owner
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Row id %s of %s; the edit was refused.', old_row ->> 'id', TG_TABLE_NAME),
                      HINT = 'Change it in Salesforce; the sync brings it here. The locked columns are listed in crm_locked_fields.';
        END IF;
        reverted := reverted || jsonb_build_object(locked.column_name, old_row -> locked.column_name);
        RAISE NOTICE '%.% is locked: Salesforce owns it (%); the edit of row id % was reverted',
            TG_TABLE_NAME, locked.column_name, locked.owner, old_row ->> 'id';
    END LOOP;
    IF reverted <> '{}' THEN
        NEW := jsonb_populate_record(NEW, reverted);
    END IF;
    RETURN NEW;
END
$$;
