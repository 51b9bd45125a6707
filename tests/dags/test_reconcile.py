"""crm_reconcile finds and repairs drift injected behind the sync's back, on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from airflow.utils.state import DagRunState


def test_reconciliation_finds_and_repairs_drift(sync_stack) -> None:
    for dag_id in ("crm_differential_contact", "crm_differential_account"):
        assert sync_stack.run_dag(dag_id).state == DagRunState.SUCCESS
    people = sync_stack.marketing("SELECT contact_sf_id, email FROM people WHERE contact_sf_id IS NOT NULL"
                                  " AND archived_at IS NULL ORDER BY email LIMIT 3")
    lost, stale, purged = (p["contact_sf_id"] for p in people)
    account = sync_stack.marketing("SELECT sf_id FROM accounts WHERE archived_at IS NULL LIMIT 1")[0]["sf_id"]

    # Marketing side: a person row deleted by hand.
    with psycopg.connect(sync_stack.databases.marketing) as mk:
        mk.execute("DELETE FROM people WHERE contact_sf_id = %s", (lost,))
    # Salesforce side, unseen by the differentials: a change the watermark has already passed,
    # and records hard-deleted (purged) so they no longer appear even to queryAll.
    sync_stack.admin.update("Contact", stale, {"Title": "Changed behind the sync's back"})
    with psycopg.connect(sync_stack.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))
    sync_stack.admin.purge("Contact", purged)
    sync_stack.admin.purge("Account", account)
    sync_stack.admin.reset_stats()

    dag_run = sync_stack.run_dag("crm_reconcile")
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)

    runs = {r["object"]: r for r in sync_stack.warehouse(
        "SELECT * FROM crm_sync.sync_runs WHERE kind = 'reconcile' ORDER BY run_id")}
    contact = runs["Contact"]["report"]
    assert contact["drift"] == {"gone_but_present": 1, "missing": 1, "stale": 1}
    assert contact["repaired"]["archived_gone"] == 1 and contact["repaired"]["resynced"] == 2
    assert runs["Account"]["report"]["drift"] == {"gone_but_present": 1}
    for object_name in ("Campaign", "Lead", "Opportunity"):  # never synced: nothing to compare
        assert object_name not in runs

    rows = {r["contact_sf_id"]: r for r in sync_stack.marketing(
        "SELECT contact_sf_id, title, archived_at, archive_reason FROM people WHERE contact_sf_id = ANY(%s)",
        [lost, stale, purged])}
    assert rows[lost]["archived_at"] is None
    assert rows[stale]["title"] == "Changed behind the sync's back"
    assert rows[purged]["archive_reason"] == "Contact no longer in Salesforce (reconciliation)"
    # Cheap: per object a login, a count and one page of Ids (REST below the Bulk threshold),
    # plus the repair by Id.
    assert sync_stack.admin.stats()["api_calls"] <= 2 * 5 + 5

    again = sync_stack.run_dag("crm_reconcile")
    assert again.state == DagRunState.SUCCESS
    latest = sync_stack.warehouse("SELECT object, report FROM crm_sync.sync_runs WHERE kind = 'reconcile'"
                                  " ORDER BY run_id DESC LIMIT 2")
    assert [r["report"]["drift"] for r in latest] == [{}, {}]


def test_reconciliation_finds_and_repairs_value_drift(sync_stack, monkeypatch) -> None:
    monkeypatch.setenv("CRM_LOCKED_FIELDS", "off")  # the late overwrite below must get through
    for dag_id in ("crm_differential_contact", "crm_differential_account"):
        assert sync_stack.run_dag(dag_id).state == DagRunState.SUCCESS
    person = sync_stack.marketing("SELECT contact_sf_id, title FROM people WHERE contact_sf_id IS NOT NULL"
                                  " AND archived_at IS NULL ORDER BY email LIMIT 2")
    drifted, marketing_edit = person[0], person[1]
    account = sync_stack.marketing("SELECT sf_id, name FROM accounts WHERE archived_at IS NULL"
                                   " ORDER BY sf_id LIMIT 1")[0]
    with psycopg.connect(sync_stack.databases.marketing) as mk:
        # A late overwrite of Salesforce-owned columns, behind the sync's back...
        mk.execute("UPDATE people SET title = 'Overwritten late' WHERE contact_sf_id = %s",
                   (drifted["contact_sf_id"],))
        mk.execute("UPDATE accounts SET name = 'Overwritten late' WHERE sf_id = %s", (account["sf_id"],))
        # ...and marketing-owned ones (to_crm, both), which may differ: not drift.
        mk.execute("UPDATE people SET lead_score = 99, unsubscribed = true WHERE contact_sf_id = %s",
                   (marketing_edit["contact_sf_id"],))
    with psycopg.connect(sync_stack.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))
    sync_stack.admin.reset_stats()

    dag_run = sync_stack.run_dag("crm_reconcile")
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    runs = {r["object"]: r for r in sync_stack.warehouse(
        "SELECT * FROM crm_sync.sync_runs WHERE kind = 'reconcile' ORDER BY run_id")}
    assert runs["Contact"]["report"]["drift"] == {"value_drift": 1}
    assert runs["Contact"]["report"]["sample"] == {"value_drift": [drifted["contact_sf_id"]]}
    assert runs["Account"]["report"]["drift"] == {"value_drift": 1}
    assert runs["Contact"]["report"]["repaired"]["repair_updated"] == 1
    assert sync_stack.marketing("SELECT title FROM people WHERE contact_sf_id = %s",
                                drifted["contact_sf_id"]) == [{"title": drifted["title"]}]
    assert sync_stack.marketing("SELECT name FROM accounts WHERE sf_id = %s", account["sf_id"]) == [
        {"name": account["name"]}]
    kept = sync_stack.marketing("SELECT lead_score, unsubscribed FROM people WHERE contact_sf_id = %s",
                                marketing_edit["contact_sf_id"])
    assert kept == [{"lead_score": 99, "unsubscribed": True}]
    # Cheap: no object re-read whole, only the Id lists and the repairs by Id.
    assert sync_stack.admin.stats()["api_calls"] <= 2 * 5 + 2 * 4

    again = sync_stack.run_dag("crm_reconcile")
    assert again.state == DagRunState.SUCCESS
    latest = sync_stack.warehouse("SELECT report FROM crm_sync.sync_runs WHERE kind = 'reconcile'"
                                  " ORDER BY run_id DESC LIMIT 2")
    assert [r["report"]["drift"] for r in latest] == [{}, {}]
