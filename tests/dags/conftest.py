"""Fixtures for DAG tests: the real stack with fresh sync databases per test."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.fixtures.databases import fresh_databases  # noqa: F401  (fixture)


def _postgres_conn(dsn: str) -> str:
    url = urlparse(dsn)
    return json.dumps({"conn_type": "postgres", "host": url.hostname, "port": url.port,
                       "login": url.username or "postgres", "schema": url.path.lstrip("/")})


class SyncStack:
    """The stack a DAG test drives: run DAGs, read the sync log and the marketing tables."""

    def __init__(self, databases, emulator) -> None:
        self.databases = databases
        self.emulator = emulator
        self.admin = emulator.admin()

    def run_dag(self, dag_id: str, **params: Any):
        """`dag.test()` of one of the project's DAGs (with Params if given); returns the DagRun."""
        import crm_differential
        import crm_full_sync
        import crm_reconcile
        import crm_record_sync
        import crm_writeback

        for module in (crm_differential, crm_full_sync, crm_record_sync, crm_reconcile, crm_writeback):
            module = importlib.reload(module)
            if hasattr(module, dag_id):
                return getattr(module, dag_id).test(run_conf=params or None)
        raise KeyError(dag_id)

    def task_states(self, dag_run) -> dict[str, str]:
        """Task id (with map index when mapped) -> state."""
        return {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): ti.state
                for ti in dag_run.get_task_instances()}

    def warehouse(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.databases.warehouse) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def marketing(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.databases.marketing) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def last_run(self, object_name: str) -> dict[str, Any]:
        return self.warehouse("SELECT * FROM crm_sync.sync_runs WHERE object = %s ORDER BY run_id DESC LIMIT 1",
                              object_name)[0]


@pytest.fixture
def sync_stack(stack_env, emulator, fresh_databases, monkeypatch) -> Iterator[SyncStack]:  # noqa: F811
    """Airflow + emulator + fresh warehouse and marketing databases behind the usual conn ids."""
    monkeypatch.setenv("AIRFLOW_CONN_CRM_WAREHOUSE", _postgres_conn(fresh_databases.warehouse))
    monkeypatch.setenv("AIRFLOW_CONN_MARKETING_DB", _postgres_conn(fresh_databases.marketing))
    monkeypatch.setenv("CRM_SYNC_SAFETY_LAG_SECONDS", "0")
    monkeypatch.setenv("CRM_SYNC_TASK_RETRIES", "0")  # a failure shows at once, no backoff waits
    yield SyncStack(fresh_databases, emulator)


@pytest.fixture
def assert_balanced() -> Callable[[dict[str, Any]], None]:
    """Every extracted record is published, quarantined or skipped: nothing is lost."""

    def check(run: dict[str, Any]) -> None:
        published = run["created"] + run["updated"] + run["archived"] + run["unchanged"]
        assert run["extracted"] == published + run["quarantined"] + run["skipped"], run
        assert run["skipped"] == sum(run["skipped_reasons"].values()), run

    return check
