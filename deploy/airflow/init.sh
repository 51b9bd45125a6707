#!/usr/bin/env bash
# The compose file's `airflow-init`: everything Airflow needs before its services start.
# Idempotent: running it again (every `docker compose up`) changes nothing that is in place.
#
#   1. Airflow's metadata database (and the FAB auth manager's tables) migrated.
#   2. The admin user, and the roles `crm_viewer` and `crm_operator` with their permissions.
#   3. The `salesforce_api` pool.
#   4. The connections in deploy/secrets/connections.env (salesforce_default) imported,
#      overwriting what is there, so the file stays the one place they are kept.
#   5. The CA bundle the services trust (REQUESTS_CA_BUNDLE): certifi's roots, plus any
#      PEM files in deploy/secrets/ca/ (a proxy's CA, say).
# The sync databases migrate themselves: each DAG's first task applies pending migrations.
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?}" "${AIRFLOW_ADMIN_PASSWORD:?}" "${AIRFLOW_ADMIN_EMAIL:?}"
pool_slots="${CRM_SALESFORCE_POOL_SLOTS:-8}"
connections_file=/opt/crm-sync/secrets/connections.env
bundle=/opt/crm-sync/ca/bundle.pem

echo "airflow-init: migrating the metadata database"
airflow db migrate
airflow fab-db migrate
airflow sync-perm

echo "airflow-init: users and roles"
airflow users create --role Admin --username "$AIRFLOW_ADMIN_USERNAME" --password "$AIRFLOW_ADMIN_PASSWORD" \
    --email "$AIRFLOW_ADMIN_EMAIL" --firstname Airflow --lastname Admin
airflow roles create crm_viewer crm_operator
# Viewers see the DAGs, their runs, task instances and logs, the pools and the import errors.
read_resources=(DAGs "DAG Runs" "Task Instances" "Task Logs" "DAG Code" "DAG Dependencies" "DAG Versions"
                "DAG Warnings" ImportError Pools Jobs XComs "Cluster Activity" Website "My Profile" "My Password")
for role in crm_viewer crm_operator; do
    airflow roles add-perms "$role" -r "${read_resources[@]}" -a can_read
done
# Operators also pause and unpause DAGs, trigger runs (a full sync, a record sync) and clear
# or mark task instances; they do not see connections, variables or the configuration.
airflow roles add-perms crm_operator -r DAGs -a can_edit
airflow roles add-perms crm_operator -r "DAG Runs" -a can_create can_edit
airflow roles add-perms crm_operator -r "Task Instances" -a can_edit
airflow roles add-perms crm_operator -r "My Password" -a can_edit

echo "airflow-init: pool salesforce_api (${pool_slots} slots)"
airflow pools set salesforce_api "$pool_slots" "Concurrent Salesforce API calls"

if [[ -s "$connections_file" ]]; then
    echo "airflow-init: importing connections from ${connections_file}"
    airflow connections import --overwrite "$connections_file"
else
    echo "airflow-init: ${connections_file} is missing or empty; set the connections in the UI" >&2
fi
echo "airflow-init: CA bundle ${bundle}"
{
    cat "$(python -c 'import certifi; print(certifi.where())')"
    for pem in /opt/crm-sync/secrets/ca/*.pem; do [[ -f "$pem" ]] && cat "$pem"; done
} > "${bundle}.tmp"
mv "${bundle}.tmp" "$bundle"
echo "airflow-init: done"
