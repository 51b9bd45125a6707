-- A custom object's marketing table: the columns the sync itself manages (mapped columns
-- are added by `targets.ensure_target_table`).
CREATE TABLE IF NOT EXISTS {target} (
    id              bigserial PRIMARY KEY,
    sf_id           text UNIQUE,
    archived_at     timestamptz,
    archive_reason  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
)
