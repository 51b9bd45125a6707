"""The differential sync end to end: Airflow's dag.test() on PostgreSQL, the emulator over
HTTPS and Great Expectations, with fresh warehouse and marketing databases per test."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import psycopg
from airflow.utils.state import DagRunState

from crm_sync.context import RunContext
from crm_sync.extract import extract_changes
from crm_sync.paths import INCLUDE_DIR
from crm_sync.prepare import prepare_object
from crm_sync.publish import publish
from tests.dags.test_dag_integrity import SUBSCRIPTION_MAPPING


def _sf(sync_stack):
    from simple_salesforce import Salesforce

    return Salesforce(username="etl@example.com", password="emulator-password", security_token="emulator-token",
                      domain=f"127.0.0.1:{sync_stack.emulator.port}/login")


def test_initial_import_then_a_run_without_changes_writes_nothing(sync_stack, assert_balanced) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    first = sync_stack.last_run("Contact")
    assert first["status"] == "succeeded" and first["window_start"] is None
    assert first["extracted"] == sync_stack.admin.count("Contact", include_deleted=True)
    assert first["created"] > 0 and first["quarantined"] > 0  # the demo org carries dirt
    assert_balanced(first)
    events = sync_stack.warehouse("SELECT outcome, count(*) AS n FROM crm_sync.record_events WHERE run_id = %s"
                                  " GROUP BY outcome", first["run_id"])
    outcomes = ("created", "updated", "archived", "unchanged", "quarantined", "skipped")
    assert {e["outcome"]: e["n"] for e in events} == {k: first[k] for k in outcomes if first[k]}
    people = sync_stack.marketing("SELECT count(*) AS n, max(updated_at) AS last FROM people")[0]
    assert people["n"] == first["created"]

    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    second = sync_stack.last_run("Contact")
    assert second["window_start"] is not None and second["api_calls"] <= 5
    assert (second["created"], second["updated"], second["archived"]) == (0, 0, 0)
    assert_balanced(second)
    assert sync_stack.marketing("SELECT count(*) AS n, max(updated_at) AS last FROM people")[0] == people


def test_updates_inserts_deletes_and_undeletes_arrive(sync_stack, assert_balanced) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    sf = _sf(sync_stack)
    person = sync_stack.marketing(
        "SELECT contact_sf_id, email FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL"
        " ORDER BY email LIMIT 2")
    updated_id, deleted_id = person[0]["contact_sf_id"], person[1]["contact_sf_id"]
    sf.Contact.update(updated_id, {"FirstName": "Renamed", "Status__c": "4"})
    inserted_id = sf.Contact.create({"LastName": "Newcomer", "Email": "Newcomer@Example.COM"})["id"]
    sf.Contact.delete(deleted_id)

    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    run = sync_stack.last_run("Contact")
    assert_balanced(run)
    assert run["created"] == 1 and run["updated"] >= 1 and run["archived"] == 1
    rows = {r["contact_sf_id"]: r for r in sync_stack.marketing(
        "SELECT * FROM people WHERE contact_sf_id = ANY(%s)", [updated_id, deleted_id, inserted_id])}
    assert rows[updated_id]["first_name"] == "Renamed" and rows[updated_id]["status"] == "Sales Qualified"
    assert rows[inserted_id]["email"] == "newcomer@example.com"
    assert rows[deleted_id]["archived_at"] is not None

    sync_stack.admin.undelete("Contact", deleted_id)
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    assert_balanced(sync_stack.last_run("Contact"))
    restored = sync_stack.marketing("SELECT archived_at FROM people WHERE contact_sf_id = %s", deleted_id)
    assert restored == [{"archived_at": None}]


def test_invalid_records_are_quarantined_with_their_reasons(sync_stack, assert_balanced) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    run = sync_stack.last_run("Contact")
    assert_balanced(run)
    quarantined = sync_stack.warehouse(
        "SELECT sf_id, reasons, payload FROM crm_quarantine.records WHERE run_id = %s", run["run_id"])
    assert len(quarantined) == run["quarantined"] > 0
    columns = {"email", "first_name", "last_name", "phone", "title", "city", "country", "lead_source",
               "account_sf_id", "owner_sf_id", "status", "unsubscribed", "lead_score", "last_visit_at"}
    for row in quarantined:
        assert row["reasons"] and all(reason.split(":")[0] in columns for reason in row["reasons"]), row
        for reason in row["reasons"]:
            value = row["payload"][{"email": "Email", "title": "Title"}.get(reason.split(":")[0], "Id")]
            if reason == "email: not a valid email address":
                local, _, domain = value.strip().partition("@")
                plausible = local and "." in domain and "@" not in domain and not any(c.isspace() for c in value.strip())
                assert not plausible, value
            if reason == "title: longer than 100 characters":
                assert len(value.strip()) > 100
    published = sync_stack.marketing("SELECT contact_sf_id FROM people WHERE contact_sf_id = ANY(%s)",
                                     [row["sf_id"] for row in quarantined])
    assert published == []
    no_email = sync_stack.warehouse(
        "SELECT s.sf_id, r.payload ->> 'Email' AS email FROM crm_sync.skipped s JOIN crm_staging.records r"
        " USING (run_id, row_id) WHERE s.run_id = %s AND s.reason = 'missing_match_key:Email'", run["run_id"])
    assert no_email and all(not (row["email"] or "").strip() for row in no_email)


def test_a_read_that_reaches_the_api_budget_stops_cleanly_and_keeps_its_place(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    watermark = sync_stack.warehouse("SELECT watermark FROM crm_sync.watermarks WHERE object = 'Contact'")
    targets = sync_stack.marketing("SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                                   " AND archived_at IS NULL ORDER BY contact_sf_id LIMIT 3")
    for target in targets:
        sync_stack.admin.update("Contact", target["contact_sf_id"], {"Title": "Changed while the budget is low"})
    usage = sync_stack.admin.stats()["api_usage"]
    # 4 calls left today: the run's share (50%) is fixed at its first answer, after the login
    # and the describe, which leaves no call for the count.
    sync_stack.admin.set_api_usage(usage["max"] - 4)
    try:
        stopped = sync_stack.run_dag("crm_differential_contact")
    finally:
        sync_stack.admin.set_api_usage(usage["used"])
    states = sync_stack.task_states(stopped)
    assert states == {"extract": "skipped", "publish": "skipped"}, states
    run = sync_stack.last_run("Contact")
    assert run["status"] == "budget_stopped" and "API budget" in run["error"]
    assert run["api_calls"] == 2 and run["extracted"] == 0  # login and describe, counted
    assert sync_stack.warehouse("SELECT watermark FROM crm_sync.watermarks WHERE object = 'Contact'") == watermark

    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    titles = sync_stack.marketing("SELECT title FROM people WHERE contact_sf_id = ANY(%s)",
                                  [t["contact_sf_id"] for t in targets])
    assert titles == [{"title": "Changed while the budget is low"}] * 3


def test_a_change_made_while_a_run_extracts_arrives_with_the_next_run(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    sf = _sf(sync_stack)
    target = sync_stack.marketing(
        "SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL LIMIT 1")[0]
    # The run starts (its window closes at run start), then the change lands before it ends.
    ctx = RunContext.load()
    prepare_object(ctx, "Contact")
    run_id = extract_changes(ctx, "Contact", now=datetime.now(UTC))
    sf.Contact.update(target["contact_sf_id"], {"Title": "Changed mid-run"})
    publish(ctx, run_id)
    title = sync_stack.marketing("SELECT title FROM people WHERE contact_sf_id = %s", target["contact_sf_id"])
    assert title != [{"title": "Changed mid-run"}]
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    title = sync_stack.marketing("SELECT title FROM people WHERE contact_sf_id = %s", target["contact_sf_id"])
    assert title == [{"title": "Changed mid-run"}]


def test_a_full_sync_lock_skips_the_differential(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    with psycopg.connect(sync_stack.databases.warehouse) as conn:
        conn.execute("INSERT INTO crm_sync.locks (name, holder) VALUES ('full_sync', 'manual__test')")
    dag_run = sync_stack.run_dag("crm_differential_account")
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert set(states.values()) == {"skipped"}
    run = sync_stack.last_run("Account")
    assert run["status"] == "skipped" and "full sync manual__test is running" in run["error"]


def test_custom_object_syncs_from_its_mapping_file(sync_stack, tmp_path, monkeypatch, assert_balanced) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    (mappings / "subscription.yaml").write_text(SUBSCRIPTION_MAPPING)
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    assert sync_stack.run_dag("crm_differential_subscription__c").state == DagRunState.SUCCESS
    run = sync_stack.last_run("Subscription__c")
    assert_balanced(run)
    rows = sync_stack.marketing("SELECT count(*) AS n FROM subscriptions WHERE archived_at IS NULL")[0]["n"]
    assert run["created"] > 0 and rows == sync_stack.admin.count("Subscription__c")


def test_every_object_syncs(sync_stack, assert_balanced) -> None:
    for object_name in ("Account", "Lead", "Opportunity", "Campaign"):
        dag_run = sync_stack.run_dag(f"crm_differential_{object_name.lower()}")
        assert dag_run.state == DagRunState.SUCCESS, object_name
        run = sync_stack.last_run(object_name)
        assert_balanced(run)
        assert run["extracted"] == sync_stack.admin.count(object_name, include_deleted=True)


def test_a_large_window_uses_bulk_api_with_the_same_result(sync_stack, monkeypatch, assert_balanced) -> None:
    monkeypatch.setenv("CRM_SYNC_BULK_THRESHOLD", "100")
    monkeypatch.setenv("CRM_SYNC_BULK_PAGE_SIZE", "500")
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    run = sync_stack.last_run("Contact")
    assert run["extract_method"] == "bulk"
    assert run["extracted"] == sync_stack.admin.count("Contact", include_deleted=True)
    assert_balanced(run)
    people = sync_stack.marketing("SELECT count(*) AS n FROM people")[0]["n"]
    assert people == run["created"] > 0


def test_a_batch_over_the_quarantine_threshold_publishes_nothing(sync_stack, monkeypatch) -> None:
    monkeypatch.setenv("CRM_SYNC_QUARANTINE_THRESHOLD", "0.001")
    monkeypatch.setenv("CRM_SYNC_QUARANTINE_MIN_ROWS", "1")
    dag_run = sync_stack.run_dag("crm_differential_contact")
    assert dag_run.state == DagRunState.FAILED
    states = sync_stack.task_states(dag_run)
    assert states == {"extract": "success", "publish": "failed"}, states
    run = sync_stack.last_run("Contact")
    assert run["status"] == "failed" and "above the threshold of 0.1%" in run["error"]
    assert run["quarantined"] > 0  # kept for inspection
    assert sync_stack.marketing("SELECT count(*) AS n FROM people") == [{"n": 0}]
    assert sync_stack.warehouse("SELECT * FROM crm_sync.watermarks") == []


def test_a_custom_target_is_change_tracked_from_its_first_sync(sync_stack, tmp_path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    (mappings / "subscription.yaml").write_text(SUBSCRIPTION_MAPPING)
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("CRM_LOCKED_FIELDS", "off")  # the edit below is of a Salesforce-owned column
    assert sync_stack.run_dag("crm_differential_subscription__c").state == DagRunState.SUCCESS
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]  # the sync's own rows
    with psycopg.connect(sync_stack.databases.marketing) as mk:
        mk.execute("UPDATE subscriptions SET plan = 'Edited in marketing' WHERE id = (SELECT min(id) FROM subscriptions)")
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 1}]


def test_schema_drift_is_recorded_in_the_sync_log(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    assert "schema_drift" not in sync_stack.last_run("Account")["report"]  # the first describe only records
    fields = {r["field"]: r["type"] for r in sync_stack.warehouse(
        "SELECT field, type FROM crm_sync.object_fields WHERE object = 'Account'")}
    assert fields["Name"] == "string" and "External_Id__c" in fields
    # As if the last run had seen Industry as a picklist of another type and no BillingState field.
    sync_stack.warehouse("UPDATE crm_sync.object_fields SET type = 'string' WHERE object = 'Account'"
                         " AND field = 'Industry' RETURNING field")
    sync_stack.warehouse("DELETE FROM crm_sync.object_fields WHERE object = 'Account' AND field = 'BillingState'"
                         " RETURNING field")
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    drift = sync_stack.last_run("Account")["report"]["schema_drift"]
    assert drift == {"new": ["BillingState"], "changed": {"Industry": ["string", "picklist"]}}
