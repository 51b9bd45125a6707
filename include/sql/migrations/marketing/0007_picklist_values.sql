-- Salesforce's picklist values, published by every run of the object's sync (crm_sync.picklists):
-- the marketing app offers exactly the values Salesforce accepts, with their labels, and knows
-- which are inactive (kept on old records, refused on new ones).
CREATE TABLE crm_picklist_values (
    object      text        NOT NULL,
    field       text        NOT NULL,
    value       text        NOT NULL,
    label       text,
    active      boolean     NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, field, value)
);
