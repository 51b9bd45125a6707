-- Record owners, refreshed by the full sync: used for lead assignment and personalised senders.
CREATE TABLE crm_users (
    sf_id       text PRIMARY KEY,
    username    text,
    email       text,
    first_name  text,
    last_name   text,
    title       text,
    is_active   boolean,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
