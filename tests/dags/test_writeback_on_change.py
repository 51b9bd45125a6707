"""Near-real-time write-back on a real Airflow: a burst of marketing edits notifies the
triggerer, which starts one `crm_writeback` run, and the edits reach Salesforce within two
minutes with no polling. API server, dag-processor, scheduler and triggerer run as child
processes (LocalExecutor), as `make airflow` runs them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState
from psycopg.rows import dict_row

from devstack.postgres import find_free_port
from tests.fixtures.airflow_services import AirflowServices, service_env

DELIVERY_LIMIT_SECONDS = 120
QUIET_SECONDS = 3


def _metadata(stack_env: dict[str, str], query: str, *params: Any) -> list[dict[str, Any]]:
    url = stack_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def _wait(what: str, check, timeout: float, services: AirflowServices) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in services.processes:
            process.check_alive()
        found = check()
        if found:
            return found
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in services.processes)
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails}")


@pytest.fixture
def airflow_services(sync_stack, stack_env, test_stack, monkeypatch):
    """The sync_stack's databases behind a running API server, dag-processor, scheduler and triggerer."""
    port = find_free_port()
    base_url = f"http://127.0.0.1:{port}"
    overrides = {
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "CRM_WRITEBACK_QUIET_SECONDS": str(QUIET_SECONDS),
        "CRM_WRITEBACK_MAX_WAIT_SECONDS": "20",
        # sync_stack's fresh databases, not the session's defaults in stack_env
        **{name: os.environ[name] for name in ("AIRFLOW_CONN_CRM_WAREHOUSE", "AIRFLOW_CONN_MARKETING_DB")},
    }
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    log_dir = test_stack.base_dir / f"on_change_{port}"
    log_dir.mkdir(parents=True)
    services = AirflowServices(base_url, service_env(stack_env, **overrides), log_dir)
    try:
        api_server = services.start("api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1")
        services.wait_healthy(api_server)
        for name in ("dag-processor", "scheduler", "triggerer"):
            services.start(name)
        yield services
    finally:
        services.stop()


def test_a_burst_of_marketing_edits_reaches_salesforce_in_one_run_without_polling(
        sync_stack, airflow_services, stack_env) -> None:
    services = airflow_services
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    people = sync_stack.marketing("SELECT id, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                                  " AND archived_at IS NULL ORDER BY id LIMIT 30")
    assert len(people) == 30

    # The dag-processor has serialised the DAG with its asset watcher, the triggerer runs the
    # trigger and it listens on the marketing database.
    _wait("crm_writeback parsed", lambda: _metadata(
        stack_env, "SELECT 1 FROM dag WHERE dag_id = 'crm_writeback' AND is_stale IS NOT TRUE"), 180, services)
    subprocess.run([sys.executable, "-m", "airflow", "dags", "unpause", "crm_writeback"], check=True,
                   env=services.env, capture_output=True, timeout=120)
    _wait("the outbox trigger listening", lambda: sync_stack.marketing(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'crm_sync_outbox_trigger'"
        " AND datname = current_database()"), 180, services)
    time.sleep(1)  # LISTEN follows the connection's start by a moment
    before = {r["run_id"] for r in _metadata(
        stack_env, "SELECT run_id FROM dag_run WHERE dag_id = 'crm_writeback' AND run_type = 'asset_triggered'")}

    started = time.monotonic()
    for chunk in range(3):  # three transactions in quick succession: one burst
        with psycopg.connect(sync_stack.databases.marketing) as mk:
            for offset, person in enumerate(people[chunk * 10:(chunk + 1) * 10]):
                mk.execute("UPDATE people SET lead_score = %s WHERE id = %s", (500 + chunk * 10 + offset, person["id"]))
        time.sleep(0.3)

    def delivered() -> list[dict[str, Any]]:
        return [r for r in _metadata(stack_env, "SELECT run_id, state FROM dag_run WHERE dag_id = 'crm_writeback'"
                                     " AND run_type = 'asset_triggered'") if r["run_id"] not in before]

    runs = _wait("an asset-triggered crm_writeback run", lambda: [r for r in delivered() if r["state"] in (
        "success", "failed")], DELIVERY_LIMIT_SECONDS, services)
    elapsed = time.monotonic() - started
    assert [r["state"] for r in runs] == ["success"], runs
    assert elapsed < DELIVERY_LIMIT_SECONDS
    admin = sync_stack.emulator.admin()
    scores = {p["contact_sf_id"]: admin.get("Contact", p["contact_sf_id"])["Lead_Score__c"] for p in people}
    assert scores == {p["contact_sf_id"]: 500 + i for i, p in enumerate(people)}
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox")[0]["n"] == 0

    time.sleep(QUIET_SECONDS + 5)  # nothing is pending: the burst made one run, and no more follow
    assert len(delivered()) == 1
