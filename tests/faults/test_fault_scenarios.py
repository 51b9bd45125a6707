"""Fault scenarios: each ends with the independent checker finding no drift.

Faults are injected by the emulator (5xx answers, latency, connections cut mid-page, expired
sessions, an exhausted API budget, a shifted record clock), workers are killed with SIGKILL
in the middle of a stage, and full and differential syncs of one object overlap in every
order. After the scenario (and the next scheduled runs where it needs them) the marketing
database must say what Salesforce says.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from airflow.utils.state import DagRunState

from crm_sync import locks
from crm_sync.context import RunContext
from crm_sync.extract import extract_changes, extract_full
from crm_sync.prepare import SyncSkipped, prepare_object
from crm_sync.publish import publish
from tests.faults.checker import salesforce_client
from tests.faults.conftest import FaultStack

ALL = ["Account", "Campaign", "Contact", "Lead", "Opportunity"]


def _ok(stack: FaultStack, dag_id: str, **params) -> None:
    dag_run = stack.run_dag(dag_id, **params)
    assert dag_run.state == DagRunState.SUCCESS, (dag_id, stack.task_states(dag_run))


def _retrying(stack: FaultStack, dag_id: str, attempts: int = 3, **params) -> int:
    """Run a DAG as Airflow's retries would: a failed run is run again; returns the failures."""
    for failures in range(attempts):
        dag_run = stack.run_dag(dag_id, **params)
        if dag_run.state == DagRunState.SUCCESS:
            return failures
    raise AssertionError(f"{dag_id} failed {attempts} times: {stack.task_states(dag_run)}")


def _differentials(stack: FaultStack, objects: list[str] = ALL) -> None:
    for object_name in objects:
        _retrying(stack, f"crm_differential_{object_name.lower()}")


def _injected(stack: FaultStack) -> int:
    return sum(stack.admin.stats()["faults_injected"].values())


def test_server_errors_on_15_percent_of_calls(fault_stack, balanced_runs) -> None:
    fault_stack.admin.reset_stats()
    fault_stack.admin.set_faults(error_rate=0.15, seed=3)
    _retrying(fault_stack, "crm_full_sync", objects=ALL, mode="upsert", dry_run=False)
    fault_stack.admin.mutate(changes=60, seed=4)
    _differentials(fault_stack)
    assert _injected(fault_stack) > 0
    balanced_runs()
    fault_stack.assert_no_drift()


def test_latency_on_every_call(fault_stack, balanced_runs) -> None:
    fault_stack.admin.set_faults(latency_ms=150)
    _differentials(fault_stack, ["Contact", "Lead"])
    balanced_runs()
    fault_stack.assert_no_drift(["Contact", "Lead"])


def test_connections_cut_mid_rest_page_and_mid_bulk_results_page(fault_stack, monkeypatch, balanced_runs) -> None:
    fault_stack.admin.reset_stats()
    fault_stack.admin.set_faults(drop_next=1)
    _retrying(fault_stack, "crm_differential_contact")  # the initial import, over REST
    assert fault_stack.last_run("Contact")["extract_method"] == "rest"
    monkeypatch.setenv("CRM_SYNC_BULK_PAGE_SIZE", "100")
    fault_stack.admin.set_faults(drop_next=1)
    _retrying(fault_stack, "crm_full_sync", objects=["Contact"], mode="upsert", dry_run=False)
    assert fault_stack.last_run("Contact")["extract_method"] == "bulk"
    assert fault_stack.admin.stats()["faults_injected"].get("dropped_page", 0) == 2
    balanced_runs()
    fault_stack.assert_no_drift(["Contact"])


def test_sessions_expiring_between_pages(fault_stack, monkeypatch, balanced_runs) -> None:
    monkeypatch.setenv("CRM_SYNC_BULK_PAGE_SIZE", "100")
    fault_stack.admin.set_faults(session_ttl_s=1, latency_ms=200)
    _retrying(fault_stack, "crm_full_sync", objects=["Contact", "Lead"], mode="upsert", dry_run=False)
    with _repeatedly(fault_stack.admin.expire_sessions, every=0.3):
        fault_stack.admin.mutate(changes=40, seed=8)
        _differentials(fault_stack, ["Contact", "Lead"])
    logins = fault_stack.warehouse("SELECT sum(api_calls) AS n FROM crm_sync.sync_runs")[0]["n"]
    assert logins > 0
    balanced_runs()
    fault_stack.assert_no_drift(["Contact", "Lead"])


@contextmanager
def _repeatedly(action, every: float) -> Iterator[None]:
    """Call ``action`` every ``every`` seconds in a thread for the duration of the block."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            action()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def test_changes_made_while_extractions_run(fault_stack, monkeypatch, assert_balanced) -> None:
    stack = fault_stack
    monkeypatch.setenv("CRM_SYNC_BULK_PAGE_SIZE", "100")
    stack.admin.set_faults(latency_ms=50)
    seeds = iter(range(100, 10_000))
    with _repeatedly(lambda: stack.admin.mutate(changes=15, seed=next(seeds)), every=0.2):
        _retrying(stack, "crm_full_sync", objects=ALL, mode="upsert", dry_run=False)
        _differentials(stack, ["Contact", "Lead"])
    # The next scheduled runs pick up what changed after each window closed.
    _differentials(stack)
    for run in stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind <> 'writeback'"
                               " AND status IN ('succeeded', 'dry_run')"):
        assert_balanced(run)
    stack.assert_no_drift()


# --- kill -9 of a worker in the middle of a stage ---------------------------------------

# Freezing a stage: a lock the stage's next statement needs, held by the test (extract is
# slowed down by the emulator instead: its Salesforce calls take seconds).
_FREEZE = {
    "extract": ("warehouse", None, "running"),
    "validate": ("warehouse", "crm_sync.skipped", "extracted"),
    "load": ("marketing", "people", "validated"),
}


_WORKER = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
getattr(module, sys.argv[2]).test(run_conf=json.loads(sys.argv[3]) or None)
"""


def _fork_dag(stack: FaultStack, dag_id: str, **params) -> int:
    """Run a DAG in a worker process of its own (same environment); returns its pid."""
    module = "crm_differential" if dag_id.startswith("crm_differential_") else dag_id
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "plugins"), str(root / "dags"), str(root),
                                         env.get("PYTHONPATH", "")])
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, module, dag_id, json.dumps(params)], env=env,
                              cwd=root, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    return worker.pid


def _wait_for(stack: FaultStack, dsn_name: str, status: str, pid: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        assert done == 0, "the worker finished before reaching the stage"
        run = stack.warehouse("SELECT status FROM crm_sync.sync_runs WHERE object = 'Contact'"
                              " ORDER BY run_id DESC LIMIT 1")
        dsn = getattr(stack.databases, dsn_name)
        with psycopg.connect(dsn) as conn:
            waiting = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                   " AND datname = current_database()").fetchone()
        if run and run[0]["status"] == status and (status == "running" or (waiting and waiting[0] > 0)):
            return
        time.sleep(0.1)
    _kill(pid)
    raise AssertionError(f"the worker never reached status {status!r} waiting on the frozen stage")


def _kill(pid: int) -> None:
    """SIGKILL the worker and everything it started, then reap it."""
    # A group already gone means the worker exited by itself; waitpid still reaps it, and the
    # caller's checks of the sync log say whether the stage was really cut.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _terminate_backends(stack: FaultStack) -> None:
    """What PostgreSQL does once it notices the dead client: end its sessions (nothing commits)."""
    for dsn in (stack.databases.warehouse, stack.databases.marketing):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _kill_during(stack: FaultStack, stage: str, dag_id: str, **params) -> None:
    dsn_name, table, status = _FREEZE[stage]
    with psycopg.connect(getattr(stack.databases, dsn_name)) as freezer:
        if stage == "extract":
            stack.admin.set_faults(latency_ms=1500)
            pid = _fork_dag(stack, dag_id, **params)
        elif stage == "load":
            # Load's table is also touched by prepare: freeze validate first, then swap the locks.
            with psycopg.connect(stack.databases.warehouse) as first:
                first.execute("LOCK TABLE crm_sync.skipped IN EXCLUSIVE MODE")
                pid = _fork_dag(stack, dag_id, **params)
                _wait_for(stack, "warehouse", "extracted", pid)
                freezer.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        else:
            freezer.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            pid = _fork_dag(stack, dag_id, **params)
        _wait_for(stack, dsn_name, status, pid)
        _kill(pid)
    stack.admin.clear_faults()
    _terminate_backends(stack)


@pytest.mark.parametrize("stage", list(_FREEZE))
@pytest.mark.parametrize("kind", ["full", "differential"])
def test_a_worker_killed_mid_stage_loses_nothing(fault_stack, monkeypatch, kind, stage) -> None:
    monkeypatch.setenv("CRM_SYNC_LOCK_LEASE_SECONDS", "30")
    _ok(fault_stack, "crm_differential_contact")  # the initial import (and a warm Airflow)
    fault_stack.admin.mutate(changes=40, seed=50)
    if kind == "full":
        _kill_during(fault_stack, stage, "crm_full_sync", objects=["Contact"], mode="upsert", dry_run=False)
        killed = fault_stack.last_run("Contact")
        assert fault_stack.warehouse("SELECT holder FROM crm_sync.locks") != []
        # The lease is 30 s: let it run out rather than wait for it.
        fault_stack.warehouse("UPDATE crm_sync.locks SET heartbeat_at = now() - interval '31 seconds'"
                              " RETURNING holder")
    else:
        _kill_during(fault_stack, stage, "crm_differential_contact")
        killed = fault_stack.last_run("Contact")
    fault_stack.admin.mutate(changes=20, seed=51)
    # The next scheduled runs: a differential, then (for a full sync) the full sync again.
    _ok(fault_stack, "crm_differential_contact")
    if kind == "full":
        _ok(fault_stack, "crm_full_sync", objects=["Contact"], mode="upsert", dry_run=False)
    dead = fault_stack.warehouse("SELECT status, error FROM crm_sync.sync_runs WHERE run_id = %s",
                                 killed["run_id"])[0]
    assert dead["status"] == "failed", dead
    assert fault_stack.warehouse("SELECT * FROM crm_sync.locks") == []
    balanced_runs_except(fault_stack, killed["run_id"])
    fault_stack.assert_no_drift(["Contact"])


def balanced_runs_except(stack: FaultStack, run_id: int) -> None:
    """The counting identity on every finished run but the killed one."""
    for run in stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE run_id <> %s AND status = 'succeeded'",
                               run_id):
        published = run["created"] + run["updated"] + run["archived"] + run["unchanged"]
        assert run["extracted"] == published + run["quarantined"] + run["skipped"], run


# --- full and differential syncs of one object overlapping ------------------------------

def _a_person(stack: FaultStack) -> str:
    return stack.marketing("SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                           " AND archived_at IS NULL ORDER BY email LIMIT 1")[0]["contact_sf_id"]


@pytest.mark.parametrize("order", [
    "differential_extracts_then_full_sync_then_differential_loads",
    "full_sync_extracts_then_differential_then_full_sync_loads",
    "full_sync_starts_after_differential_prepare",
    "differential_extracts_then_full_sync_extracts_then_both_load",
])
def test_full_and_differential_syncs_overlapping(fault_stack, balanced_runs, order) -> None:
    _ok(fault_stack, "crm_differential_contact")
    contact = _a_person(fault_stack)
    ctx = RunContext.load()
    holder = "manual__overlap_full_sync"
    if order == "differential_extracts_then_full_sync_then_differential_loads":
        prepare_object(ctx, "Contact")
        fault_stack.admin.update("Contact", contact, {"Title": "Older title"})
        diff = extract_changes(ctx, "Contact")
        fault_stack.admin.update("Contact", contact, {"Title": "Newer title"})
        _ok(fault_stack, "crm_full_sync", objects=["Contact"], mode="upsert", dry_run=False)
        publish(ctx, diff)  # the late differential must not write the older title back
    elif order == "full_sync_extracts_then_differential_then_full_sync_loads":
        with ctx.warehouse() as wh:
            locks.acquire(wh, holder)
        prepare_object(ctx, "Contact", respect_lock=False)
        full = extract_full(ctx, "Contact", dag_run_id=holder)
        fault_stack.admin.update("Contact", contact, {"Title": "Changed during the full sync"})
        during = fault_stack.run_dag("crm_differential_contact")
        assert set(fault_stack.task_states(during).values()) == {"skipped"}
        publish(ctx, full)
        with ctx.warehouse() as wh:
            locks.release(wh, holder)
    elif order == "full_sync_starts_after_differential_prepare":
        prepare_object(ctx, "Contact")  # the differential is past prepare...
        fault_stack.admin.update("Contact", contact, {"Title": "Changed before the full sync"})
        with ctx.warehouse() as wh:
            locks.acquire(wh, holder)  # ...when the full sync starts
        prepare_object(ctx, "Contact", respect_lock=False)
        full = extract_full(ctx, "Contact", dag_run_id=holder)
        with pytest.raises(SyncSkipped):
            extract_changes(ctx, "Contact")  # the differential waits for the full sync
        publish(ctx, full)
        with ctx.warehouse() as wh:
            locks.release(wh, holder)
    else:
        prepare_object(ctx, "Contact")
        diff = extract_changes(ctx, "Contact")
        fault_stack.admin.update("Contact", contact, {"Title": "Changed between the two extracts"})
        with ctx.warehouse() as wh:
            locks.acquire(wh, holder)
        prepare_object(ctx, "Contact", respect_lock=False)
        full = extract_full(ctx, "Contact", dag_run_id=holder)
        publish(ctx, full)
        publish(ctx, diff)
        with ctx.warehouse() as wh:
            locks.release(wh, holder)
    fault_stack.admin.mutate(changes=20, seed=60)
    _ok(fault_stack, "crm_differential_contact")  # the next scheduled run
    balanced_runs()
    fault_stack.assert_no_drift(["Contact"])


# --- the watermark: ties on its millisecond, records committed late ----------------------

def test_records_sharing_the_watermark_millisecond_and_committed_late(fault_stack, monkeypatch,
                                                                      balanced_runs) -> None:
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "0")
    _ok(fault_stack, "crm_differential_contact")
    # Twenty records stamped with one millisecond, and the window to end exactly on it.
    tie = dt.datetime.now(dt.UTC).replace(microsecond=123000) - dt.timedelta(seconds=5)
    stamp = tie.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # the emulator's stored form
    for n in range(20):
        fault_stack.admin.plant("Contact", {"LastName": f"Tie {n}", "Email": f"tie.{n}@example.com",
                                            "SystemModstamp": stamp, "LastModifiedDate": stamp})
    ctx = RunContext.load()
    prepare_object(ctx, "Contact")
    publish(ctx, extract_changes(ctx, "Contact", now=tie))  # the window [watermark, tie) leaves them out
    _ok(fault_stack, "crm_differential_contact")  # the next window starts on the tie
    sf = salesforce_client(fault_stack.emulator.port)
    tied = sf.query_all("SELECT Id FROM Contact WHERE LastName LIKE 'Tie %'")["records"]
    assert len(tied) == 20
    # Records committed late: their SystemModstamp is older than the watermark already taken
    # (yet, as in Salesforce, newer than the record's own previous version: records no one
    # changed in the last three hours, so even the -7200 s stamps move them forward).
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "300")
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    untouched = {r["Id"] for r in sf.query_all(f"SELECT Id FROM Contact WHERE SystemModstamp < {cutoff}")["records"]}
    targets = [r["contact_sf_id"] for r in fault_stack.marketing(
        "SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL ORDER BY email")
        if r["contact_sf_id"] in untouched][:6]
    assert len(targets) == 6
    fault_stack.admin.set_clock_offset(-120)  # within the lookback: the next differential re-reads them
    try:
        for n, contact in enumerate(targets[:3]):
            fault_stack.admin.update("Contact", contact, {"Title": f"Committed late {n}"})
        _ok(fault_stack, "crm_differential_contact")
        fault_stack.admin.set_clock_offset(-7200)  # beyond the lookback: reconciliation must find them
        for n, contact in enumerate(targets[3:]):
            fault_stack.admin.update("Contact", contact, {"Title": f"Committed very late {n}"})
    finally:
        fault_stack.admin.set_clock_offset(0)
    _ok(fault_stack, "crm_differential_contact")
    _ok(fault_stack, "crm_reconcile")
    balanced_runs()
    fault_stack.assert_no_drift(["Contact"])


# --- the API budget -------------------------------------------------------------------

def test_the_api_budget_running_out_mid_run_and_the_next_day_delivering(fault_stack, balanced_runs) -> None:
    fault_stack.admin.set_api_usage(9_980, 10_000)  # 20 calls left today; a run may spend half
    fault_stack.run_dag("crm_full_sync", objects=ALL, mode="upsert", dry_run=False)
    statuses = {r["object"]: r["status"] for r in fault_stack.warehouse(
        "SELECT DISTINCT ON (object) object, status FROM crm_sync.sync_runs ORDER BY object, run_id DESC")}
    assert "budget_stopped" in statuses.values(), statuses
    assert "failed" not in statuses.values(), statuses
    stopped = fault_stack.warehouse("SELECT api_calls FROM crm_sync.sync_runs WHERE status = 'budget_stopped'")
    assert all(r["api_calls"] > 0 for r in stopped), stopped
    fault_stack.admin.set_api_usage(0, 5_000_000)  # the next day
    _ok(fault_stack, "crm_full_sync", objects=[o for o, s in statuses.items() if s != "succeeded"],
        mode="upsert", dry_run=False)
    _differentials(fault_stack)
    balanced_runs()
    fault_stack.assert_no_drift()
