"""The write-back end to end: dag.test() of crm_writeback (and the differentials) against
PostgreSQL and the emulator over HTTPS, with fresh warehouse and marketing databases per test."""

from __future__ import annotations

import importlib
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState


def run_writeback(sync_stack) -> Any:
    """`dag.test()` of crm_writeback; returns the DagRun."""
    import crm_writeback

    return importlib.reload(crm_writeback).crm_writeback.test()


def marketing_do(sync_stack, query: str, *params: Any) -> list[tuple]:
    """Run a marketing-side edit (as a marketing app would: no sync origin) and commit."""
    with psycopg.connect(sync_stack.databases.marketing) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def writeback_runs(sync_stack, dag_run) -> dict[str, dict[str, Any]]:
    rows = sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind = 'writeback' AND dag_run_id = %s",
                                dag_run.run_id)
    return {r["object"]: r for r in rows}


@pytest.fixture
def synced(sync_stack):
    for dag_id in ("crm_differential_contact", "crm_differential_lead"):
        assert sync_stack.run_dag(dag_id).state == DagRunState.SUCCESS
    return sync_stack


def test_scores_and_last_visits_reach_salesforce(synced) -> None:
    people = synced.marketing(
        "SELECT id, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND lead_sf_id IS NULL"
        " AND archived_at IS NULL ORDER BY email LIMIT 3")
    for n, person in enumerate(people):
        marketing_do(synced, "UPDATE people SET lead_score = %s, last_visit_at = '2030-01-02T03:04:05.678+00'"
                     " WHERE id = %s", 70 + n, person["id"])
    dag_run = run_writeback(synced)
    assert dag_run.state == DagRunState.SUCCESS
    for n, person in enumerate(people):
        record = synced.admin.get("Contact", person["contact_sf_id"])
        assert record["Lead_Score__c"] == 70 + n
        assert record["Last_Visit__c"].startswith("2030-01-02T03:04:05.678")
    runs = writeback_runs(synced, dag_run)
    assert runs["Contact"]["updated"] == 3 and runs["Contact"]["status"] == "succeeded"
