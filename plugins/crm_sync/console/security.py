"""Who may use the console: Airflow's own authentication and DAG permissions.

Viewing any page or data endpoint needs read access to the sync's DAG runs (checked on
`crm_record_sync`, the DAG the console drives); replaying or syncing a record needs permission
to trigger it (create a DAG run) and dismissing a quarantined record needs permission to edit it.
All three are Airflow's own dependencies (`requires_access_dag` on top of `get_user`), so the
configured auth manager decides; no token, or an invalid one, is refused with 401 or 403.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, Request

from crm_sync.console import RECORD_SYNC_DAG

#: Read access to the sync's DAG runs: every page and data endpoint.
can_view = Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=RECORD_SYNC_DAG))
#: Trigger `crm_record_sync`: replay and "sync now".
can_trigger = Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=RECORD_SYNC_DAG))
#: Edit `crm_record_sync`: dismissing quarantined records.
can_edit = Depends(requires_access_dag("PUT", param_dag_id=RECORD_SYNC_DAG))

User = GetUserDep


def user_name(user: User) -> str:
    """The signed-in user's name as Airflow knows it."""
    return user.get_name()


def presented_token(request: Request) -> str | None:
    """The token the caller authenticated with (bearer header first, then the UI's cookie).

    It is forwarded unchanged to Airflow's REST API, so the DAG run is triggered as this user.
    """
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN)

