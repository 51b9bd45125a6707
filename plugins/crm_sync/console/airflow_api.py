"""Calls to Airflow's own REST API (v2) as the signed-in user, forwarding their token.

Triggering DAG runs this way (rather than writing to the metadata database) means Airflow
checks the user's permissions again, validates the Params, and records the user in its audit
log and as the run's triggering user.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi import HTTPException, Request

from crm_sync.console.security import presented_token

log = logging.getLogger(__name__)

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def ui_base_path() -> str:
    """The path the Airflow UI is served under (from `[api] base_url`), always ending in '/'."""
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="") or ""
    path = urlsplit(base_url).path or "/"
    return path if path.endswith("/") else path + "/"


def _api_root(request: Request) -> str:
    """Where this API server's REST API answers (`[api] base_url`, else the request's origin)."""
    from airflow.configuration import conf

    base_url = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    if base_url.startswith(("http://", "https://")):
        return base_url
    return f"{request.url.scheme}://{request.url.netloc}{base_url}"


def dag_run_url(dag_id: str, dag_run_id: str) -> str:
    """The Airflow UI page of a DAG run (relative to the UI's base path)."""
    return f"{ui_base_path()}dags/{quote(dag_id, safe='')}/runs/{quote(dag_run_id, safe='')}"


def task_log_url(dag_id: str, dag_run_id: str, task_id: str, map_index: int = -1) -> str:
    """The Airflow UI page (log tab) of one task instance."""
    url = f"{dag_run_url(dag_id, dag_run_id)}/tasks/{quote(task_id, safe='')}"
    return f"{url}/mapped/{map_index}" if map_index >= 0 else url


async def call(request: Request, method: str, path: str, *, json: dict[str, Any] | None = None,
               params: dict[str, Any] | None = None) -> Any:
    """Call `/api/v2/<path>` as the caller; Airflow's refusals and errors are passed on.

    Raises:
        HTTPException: with Airflow's status and detail when it does not answer 2xx.
    """
    token = presented_token(request)
    if not token:
        raise HTTPException(status_code=401, detail="Not authenticated")
    url = f"{_api_root(request)}/api/v2/{path.lstrip('/')}"
    async with httpx.AsyncClient(timeout=_TIMEOUT, trust_env=False) as client:
        response = await client.request(method, url, json=json, params=params,
                                        headers={"Authorization": f"Bearer {token}"})
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        log.warning("Airflow API %s %s answered %d", method, path, response.status_code)
        raise HTTPException(status_code=response.status_code, detail=detail)
    return response.json()


async def trigger_dag_run(request: Request, dag_id: str, conf: dict[str, Any], note: str) -> dict[str, Any]:
    """Trigger a DAG run as the caller; returns Airflow's DAG run (with `dag_run_id`)."""
    body = {"logical_date": None, "conf": conf, "note": note}
    return await call(request, "POST", f"dags/{quote(dag_id, safe='')}/dagRuns", json=body)


async def sync_dags(request: Request) -> dict[str, dict[str, Any]]:
    """The sync's DAGs (tag `crm_sync`) the caller may see: dag_id -> Airflow's DAG record."""
    found = await call(request, "GET", "dags", params={"tags": "crm_sync", "limit": 200})
    return {dag["dag_id"]: dag for dag in found.get("dags", [])}


async def task_instances(request: Request, dag_id: str, dag_run_id: str) -> list[dict[str, Any]]:
    """The task instances of one DAG run (empty when Airflow no longer has the run)."""
    try:
        found = await call(request, "GET",
                           f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(dag_run_id, safe='')}/taskInstances")
    except HTTPException as exc:
        if exc.status_code == 404:
            return []
        raise
    return found.get("task_instances", [])
