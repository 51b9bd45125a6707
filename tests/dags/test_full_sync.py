"""crm_full_sync and crm_record_sync on the real stack."""

from __future__ import annotations

import time

import psycopg
import pytest
from airflow.utils.state import DagRunState

from crm_sync import locks, runs
from crm_sync.context import RunContext
from crm_sync.extract import extract_full
from crm_sync.migrations import migrate
from crm_sync.prepare import prepare_object
from crm_sync.publish import publish
from crm_sync.runs import RunKind, RunStatus


def test_mirror_archives_records_deleted_and_purged_in_salesforce(sync_stack, assert_balanced) -> None:
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    live = sync_stack.marketing("SELECT sf_id FROM accounts WHERE archived_at IS NULL ORDER BY sf_id LIMIT 2")
    deleted_id, purged_id = live[0]["sf_id"], live[1]["sf_id"]
    sync_stack.admin.delete("Account", deleted_id)
    sync_stack.admin.purge("Account", purged_id)

    dag_run = sync_stack.run_dag("crm_full_sync", objects=["Account"], mode="mirror", dry_run=False)
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    run = sync_stack.last_run("Account")
    assert run["kind"] == "full" and run["status"] == "succeeded" and run["extract_method"] == "bulk"
    assert_balanced(run)
    assert run["extracted"] == sync_stack.admin.count("Account", include_deleted=True)
    assert run["report"]["mirror_archived"] == 1
    rows = {r["sf_id"]: r for r in sync_stack.marketing(
        "SELECT sf_id, archived_at, archive_reason FROM accounts WHERE sf_id = ANY(%s)", [deleted_id, purged_id])}
    assert rows[deleted_id]["archive_reason"] == "Account deleted in Salesforce"
    assert rows[purged_id]["archive_reason"] == "Account no longer in Salesforce"
    assert sync_stack.warehouse("SELECT * FROM crm_sync.locks") == []
    assert sync_stack.warehouse("SELECT watermark FROM crm_sync.watermarks WHERE object = 'Account'") == [
        {"watermark": run["window_end"]}]
    users = sync_stack.marketing("SELECT count(*) AS n FROM crm_users")[0]["n"]
    assert users == sync_stack.admin.count("User")


def test_dry_run_writes_nothing_and_reports_what_a_real_run_does(sync_stack) -> None:
    dag_run = sync_stack.run_dag("crm_full_sync", objects=["Campaign", "Opportunity"], mode="upsert", dry_run=True)
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    dry = {r["object"]: r for r in sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind = 'full'")}
    assert {r["status"] for r in dry.values()} == {"dry_run"}
    assert sync_stack.marketing("SELECT (SELECT count(*) FROM campaigns) + (SELECT count(*) FROM opportunities)"
                                " + (SELECT count(*) FROM crm_users) AS n") == [{"n": 0}]
    assert sync_stack.warehouse("SELECT * FROM crm_sync.watermarks") == []

    dag_run = sync_stack.run_dag("crm_full_sync", objects=["Campaign", "Opportunity"], mode="upsert", dry_run=False)
    assert dag_run.state == DagRunState.SUCCESS
    for object_name, predicted in dry.items():
        real = sync_stack.last_run(object_name)
        assert real["status"] == "succeeded"
        for count in ("extracted", "created", "updated", "archived", "unchanged", "quarantined", "skipped"):
            assert real[count] == predicted[count], (object_name, count)
        assert predicted["created"] > 0


def test_differentials_skip_during_a_full_sync_and_catch_up_after(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    target = sync_stack.marketing(
        "SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL LIMIT 1")[0]
    holder = "manual__full_sync_under_test"
    ctx = RunContext.load()
    with ctx.warehouse() as wh:
        locks.acquire(wh, holder)
    prepare_object(ctx, "Contact", respect_lock=False)
    run_id = extract_full(ctx, "Contact", dag_run_id=holder)
    sync_stack.admin.update("Contact", target["contact_sf_id"], {"Title": "Changed during the full sync"})

    during = sync_stack.run_dag("crm_differential_contact")
    assert set(sync_stack.task_states(during).values()) == {"skipped"}
    assert "is running" in sync_stack.last_run("Contact")["error"]

    publish(ctx, run_id)
    with ctx.warehouse() as wh:
        locks.release(wh, holder)
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    title = sync_stack.marketing("SELECT title FROM people WHERE contact_sf_id = %s", target["contact_sf_id"])
    assert title == [{"title": "Changed during the full sync"}]


def test_a_failed_bulk_job_is_retried_on_the_halves_of_its_range(sync_stack, assert_balanced) -> None:
    sync_stack.admin.set_faults(bulk_fail_next=1)
    try:
        dag_run = sync_stack.run_dag("crm_full_sync", objects=["Opportunity"], mode="upsert", dry_run=False)
    finally:
        sync_stack.admin.clear_faults()
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    run = sync_stack.last_run("Opportunity")
    assert run["report"]["bulk_splits"] == 1
    assert run["extracted"] == sync_stack.admin.count("Opportunity", include_deleted=True)
    assert_balanced(run)
    ranges = sync_stack.warehouse("SELECT state FROM crm_sync.bulk_jobs WHERE run_id = %s ORDER BY range_start",
                                  run["run_id"])
    assert sorted(r["state"] for r in ranges) == ["done", "done", "split"]


def test_a_retried_extract_resumes_from_the_staged_pages(sync_stack, monkeypatch) -> None:
    monkeypatch.setenv("CRM_SYNC_BULK_PAGE_SIZE", "100")
    monkeypatch.setenv("CRM_SYNC_API_MAX_ATTEMPTS", "1")  # a dropped page fails the extract (as after all retries)
    total = sync_stack.admin.count("Contact", include_deleted=True)
    pages = -(-total // 100)
    ctx = RunContext.load()
    prepare_object(ctx, "Contact", respect_lock=False)
    sync_stack.admin.reset_stats()
    sync_stack.admin.set_faults(drop_rate=0.15, seed=11)
    attempts = 0
    try:
        while True:
            attempts += 1
            try:
                run_id = extract_full(ctx, "Contact", dag_run_id="manual__resume_test")
                break
            except Exception:  # noqa: BLE001 - a dropped page; the next attempt resumes
                assert attempts < 30, "extract never finished"
    finally:
        sync_stack.admin.clear_faults()
    stats = sync_stack.admin.stats()
    dropped = stats["faults_injected"].get("dropped_page", 0)
    assert attempts > 1 and dropped == attempts - 1
    staged = sync_stack.warehouse("SELECT count(*) AS n, count(DISTINCT sf_id) AS ids FROM crm_staging.records"
                                  " WHERE run_id = %s", run_id)[0]
    assert staged == {"n": total, "ids": total}
    # Every page was downloaded once, plus once more for each page whose download broke.
    assert stats["by_kind"]["bulk2_query_results"] == pages + dropped


def test_record_sync_syncs_valid_ids_and_refuses_invalid_ones(sync_stack, assert_balanced) -> None:
    ids = [r["Id"] for r in _contact_ids(sync_stack, 3)]
    dag_run = sync_stack.run_dag("crm_record_sync", object="Contact", ids=",\n".join(ids[:2]) + " " + ids[2][:15])
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    run = sync_stack.last_run("Contact")
    assert run["kind"] == "record" and run["extracted"] == 3 and run["report"]["not_found"] == []
    assert_balanced(run)
    assert sync_stack.warehouse("SELECT * FROM crm_sync.watermarks") == []

    calls_before = sync_stack.admin.stats()["api_calls"]
    dag_run = sync_stack.run_dag("crm_record_sync", object="Contact", ids=f"{ids[0]}, 003' OR Name != '")
    assert dag_run.state == DagRunState.FAILED
    states = sync_stack.task_states(dag_run)
    assert states["check_ids"] == "failed" and states["sync_records"] == "upstream_failed"
    assert sync_stack.admin.stats()["api_calls"] == calls_before  # nothing reached Salesforce
    assert sync_stack.last_run("Contact")["run_id"] == run["run_id"]


def _contact_ids(sync_stack, n: int) -> list[dict]:
    from simple_salesforce import Salesforce

    sf = Salesforce(username="etl@example.com", password="emulator-password", security_token="emulator-token",
                    domain=f"127.0.0.1:{sync_stack.emulator.port}/login")
    return sf.query(f"SELECT Id FROM Contact WHERE Email != null LIMIT {n}")["records"]


def test_lock_is_not_taken_twice(sync_stack) -> None:
    with psycopg.connect(sync_stack.databases.warehouse) as conn:
        conn.execute("SELECT 1")
    with RunContext.load().warehouse() as wh:
        migrate(wh, "warehouse")
        locks.acquire(wh, "manual__first")
        try:
            try:
                locks.acquire(wh, "manual__second")
            except locks.LockHeld as held:
                assert "manual__first" in str(held)
            else:
                raise AssertionError("a second full sync took the lock")
            locks.acquire(wh, "manual__first")  # the holder may take it again (task retry)
        finally:
            assert locks.release(wh, "manual__first")


def test_a_lock_whose_holder_died_expires_and_is_taken_over(sync_stack) -> None:
    ctx = RunContext.load()
    with ctx.warehouse() as wh:
        migrate(wh, "warehouse")
        locks.acquire(wh, "manual__killed", lease_seconds=60)
        dead_run = runs.start_run(wh, object_name="Contact", kind=RunKind.FULL, dag_run_id="manual__killed")
        wh.commit()
        with pytest.raises(locks.LockHeld, match="manual__killed"):
            locks.acquire(wh, "manual__next", lease_seconds=60)
        # The holder's worker was killed: nothing renews its lease any more.
        wh.execute("UPDATE crm_sync.locks SET heartbeat_at = now() - interval '61 seconds'")
        wh.commit()
        assert locks.lock_holder(wh) is None  # differentials run again
        locks.acquire(wh, "manual__next", lease_seconds=60)
        assert locks.lock_holder(wh) == "manual__next"
        dead = runs.get_run(wh, dead_run)
        assert dead.status is RunStatus.FAILED and "worker stopped" in (dead.error or "")
        assert locks.release(wh, "manual__next")


def test_a_heartbeat_keeps_the_lease_alive(sync_stack) -> None:
    ctx = RunContext.load()
    with ctx.warehouse() as wh:
        migrate(wh, "warehouse")
    with locks.heartbeat(ctx.warehouse, "manual__alive", lease_seconds=30):
        with ctx.warehouse() as wh:
            wh.execute("UPDATE crm_sync.locks SET heartbeat_at = now() - interval '15 seconds'")
            wh.commit()
            deadline = time.monotonic() + 15
            while locks.lock_holder(wh) == "manual__alive" and time.monotonic() < deadline:
                renewed = wh.execute("SELECT heartbeat_at > now() - interval '5 seconds' FROM crm_sync.locks"
                                     ).fetchone()
                wh.commit()
                if renewed and renewed[0]:
                    break
                time.sleep(0.5)
            assert locks.lock_holder(wh) == "manual__alive"
            with pytest.raises(locks.LockHeld):
                locks.acquire(wh, "manual__other", lease_seconds=30)
    with ctx.warehouse() as wh:
        assert locks.release(wh, "manual__alive")
