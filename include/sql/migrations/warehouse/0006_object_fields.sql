-- The fields each synced object had at its last describe: what schema drift is measured against.
CREATE TABLE crm_sync.object_fields (
    object      text        NOT NULL,
    field       text        NOT NULL,
    type        text        NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (object, field)
);
