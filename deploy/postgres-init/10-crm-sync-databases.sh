#!/usr/bin/env bash
# First start of the compose file's PostgreSQL: the three databases and their roles.
#
#   airflow        Airflow's metadata database, owned by role `airflow`.
#   crm_warehouse  the sync's warehouse, owned by role `crm_warehouse`: the sync's migrations
#                  create the schemas crm_staging, crm_mapping, crm_quarantine and crm_sync.
#   marketing      the marketing database, owned by role `marketing_owner` (no login). The
#                  sync's role `crm_marketing` may connect and create in schema public, so
#                  its migrations create (and it owns) the synced tables, the change-tracking
#                  tables, function and triggers; role `marketing_app` (the marketing side's
#                  own application) reads and edits the synced tables and, through the
#                  triggers, records its edits in crm_outbox / crm_field_changes.
#
# No role is a superuser and none can create databases or roles; PUBLIC loses its default
# rights on the databases and on schema public. Passwords come from the environment (.env),
# never from this file. Runs once, on an empty data directory (the image's initdb hook).
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?}" "${CRM_WAREHOUSE_DB_PASSWORD:?}" "${CRM_MARKETING_DB_PASSWORD:?}" "${MARKETING_APP_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
    -v warehouse_pw="$CRM_WAREHOUSE_DB_PASSWORD" \
    -v marketing_pw="$CRM_MARKETING_DB_PASSWORD" \
    -v app_pw="$MARKETING_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE ROLE crm_warehouse LOGIN PASSWORD :'warehouse_pw';
CREATE ROLE crm_marketing LOGIN PASSWORD :'marketing_pw';
CREATE ROLE marketing_owner NOLOGIN;
CREATE ROLE marketing_app LOGIN PASSWORD :'app_pw';

CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE crm_warehouse OWNER crm_warehouse;
CREATE DATABASE marketing OWNER marketing_owner;
REVOKE ALL ON DATABASE airflow, crm_warehouse, marketing FROM PUBLIC;
GRANT CONNECT ON DATABASE marketing TO crm_marketing, marketing_app;
SQL

# Airflow and the warehouse role own their databases; their schema public becomes theirs.
for pair in airflow:airflow crm_warehouse:crm_warehouse; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${pair%%:*}" \
        -c "ALTER SCHEMA public OWNER TO ${pair#*:}; REVOKE ALL ON SCHEMA public FROM PUBLIC;"
done

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname marketing <<'SQL'
ALTER SCHEMA public OWNER TO marketing_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
-- The sync creates its tables, the tracking function and the triggers (it owns them).
GRANT USAGE, CREATE ON SCHEMA public TO crm_marketing;
GRANT USAGE ON SCHEMA public TO marketing_app;
-- What the sync creates, the marketing application may read and edit; its edits fire the
-- tracking triggers, which run as the editing role: hence the outbox rights.
ALTER DEFAULT PRIVILEGES FOR ROLE crm_marketing IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE ON TABLES TO marketing_app;
ALTER DEFAULT PRIVILEGES FOR ROLE crm_marketing IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO marketing_app;
SQL
