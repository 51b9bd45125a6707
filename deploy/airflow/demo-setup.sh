#!/usr/bin/env bash
# The demo profile's `demo-setup`, after `airflow-init`: trusts the emulator's certificate
# (appended to the services' CA bundle on the shared volume) and points `salesforce_default`
# at the emulator with its documented demo login (not a secret: see emulator/README.md).
set -euo pipefail
: "${CRM_EMULATOR_URL:?}" "${CRM_EMULATOR_CERT:?}"
bundle=/opt/crm-sync/ca/bundle.pem
{
    cat "$(python -c 'import certifi; print(certifi.where())')"
    cat "$CRM_EMULATOR_CERT"
} > "${bundle}.tmp"
mv "${bundle}.tmp" "$bundle"
host="${CRM_EMULATOR_URL#https://}"
airflow connections delete salesforce_default >/dev/null 2>&1 || true
airflow connections add salesforce_default --conn-json "$(printf '{"conn_type": "salesforce", "login": "etl@example.com", "password": "emulator-password", "extra": {"security_token": "emulator-token", "domain": "%s/login", "version": "59.0"}}' "$host")"
echo "demo-setup: salesforce_default points at ${CRM_EMULATOR_URL}; unpause the DAGs in the UI"
