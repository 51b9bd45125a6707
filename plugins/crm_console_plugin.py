"""Airflow plugin: the CRM sync console, a "CRM sync" entry in Airflow's navigation.

Airflow's API server mounts the console's FastAPI app under `/crm-sync`; the UI shows its
pages in the main area, as an external view with its own light and dark icon.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from crm_sync.console import URL_PREFIX
from crm_sync.console.app import create_app


class CrmSyncConsolePlugin(AirflowPlugin):
    """The sync's overview, history, quarantine, record timeline and write-back pages."""

    name = "crm_sync_console"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "CRM sync console"}]
    external_views = [
        {
            "name": "CRM sync",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "crm-sync",
            "icon": f"{URL_PREFIX}/static/icon.svg",
            "icon_dark_mode": f"{URL_PREFIX}/static/icon-dark.svg",
        }
    ]
