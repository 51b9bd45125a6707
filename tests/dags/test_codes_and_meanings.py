"""Codes and meanings side by side: `Status__c` lands as its raw code (`status_code`) and as its
mapped meaning (`status`); both load, a change moves both, a second run changes nothing, and
reconciliation notices a drifted code."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import psycopg
from airflow.utils.state import DagRunState

from crm_sync.paths import INCLUDE_DIR


def _meanings() -> dict[str, str]:
    with (INCLUDE_DIR / "mappings" / "values" / "contact_status.csv").open(newline="") as handle:
        return {row["crm_value"]: row["marketing_value"] for row in csv.DictReader(handle)}


def test_code_and_meaning_load_side_by_side_and_settle(sync_stack, assert_balanced) -> None:
    meanings = _meanings()
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    first = sync_stack.last_run("Contact")
    assert_balanced(first)
    rows = sync_stack.marketing("SELECT contact_sf_id, status_code, status FROM people"
                                " WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL")
    coded = [r for r in rows if r["status_code"] is not None]
    assert len(coded) > len(rows) / 2  # the org's Contacts mostly carry a status
    assert all(r["status"] == meanings[r["status_code"]] for r in coded)
    assert all(r["status"] is None for r in rows if r["status_code"] is None)

    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    second = sync_stack.last_run("Contact")
    assert (second["created"], second["updated"], second["archived"]) == (0, 0, 0)

    # A Salesforce change of the code moves both columns, once.
    person = next(r for r in coded if r["status_code"] != "3")
    sync_stack.admin.update("Contact", person["contact_sf_id"], {"Status__c": "3"})
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    assert sync_stack.last_run("Contact")["updated"] == 1
    assert sync_stack.marketing("SELECT status_code, status FROM people WHERE contact_sf_id = %s",
                                person["contact_sf_id"]) == [{"status_code": "3", "status": meanings["3"]}]
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    last = sync_stack.last_run("Contact")
    assert (last["created"], last["updated"], last["archived"]) == (0, 0, 0)


def test_a_drifted_code_is_found_and_repaired(sync_stack, monkeypatch) -> None:
    monkeypatch.setenv("CRM_LOCKED_FIELDS", "off")  # the drift made by hand below must get through the guard
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    person = sync_stack.marketing("SELECT contact_sf_id, status_code, status FROM people WHERE status_code = '2'"
                                  " AND contact_sf_id IS NOT NULL AND archived_at IS NULL ORDER BY email LIMIT 1")[0]
    with psycopg.connect(sync_stack.databases.marketing) as mk:
        mk.execute("UPDATE people SET status_code = '4' WHERE contact_sf_id = %s", (person["contact_sf_id"],))
    with psycopg.connect(sync_stack.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))

    assert sync_stack.run_dag("crm_reconcile").state == DagRunState.SUCCESS
    contact = sync_stack.warehouse("SELECT report FROM crm_sync.sync_runs WHERE kind = 'reconcile'"
                                   " AND object = 'Contact' ORDER BY run_id DESC LIMIT 1")[0]["report"]
    assert contact["drift"] == {"value_drift": 1}
    assert contact["sample"] == {"value_drift": [person["contact_sf_id"]]}
    assert sync_stack.marketing("SELECT status_code, status FROM people WHERE contact_sf_id = %s",
                                person["contact_sf_id"]) == [{"status_code": "2", "status": person["status"]}]

    assert sync_stack.run_dag("crm_reconcile").state == DagRunState.SUCCESS
    again = sync_stack.warehouse("SELECT report FROM crm_sync.sync_runs WHERE kind = 'reconcile'"
                                 " AND object = 'Contact' ORDER BY run_id DESC LIMIT 1")[0]["report"]
    assert again["drift"] == {}
