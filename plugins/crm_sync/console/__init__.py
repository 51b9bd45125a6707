"""The sync's console in the Airflow UI: overview, history, quarantine, record timeline, write-back.

A FastAPI app (``app.create_app``) that Airflow's API server mounts under ``/crm-sync`` through
the plugin in ``plugins/crm_console_plugin.py``; its pages appear in Airflow's navigation as an
external view. Every route requires Airflow's authentication and checks its permissions.
"""

from __future__ import annotations

URL_PREFIX = "/crm-sync"
RECORD_SYNC_DAG = "crm_record_sync"
