"""A retried publish resumes where the run got to: it never validates or loads a run twice.

The failures are real: the test holds a table lock that a step needs, and the sync's
connections give up waiting after half a second (PostgreSQL's `lock_timeout`, set for the
process's new connections through libpq's `PGOPTIONS`), as a busy database would make them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from crm_sync.context import RunContext
from crm_sync.extract import extract_changes, extract_full
from crm_sync.prepare import prepare_object
from crm_sync.publish import publish

COUNTS = ("extracted", "valid", "quarantined", "skipped", "created", "updated", "archived", "unchanged")


@contextmanager
def _locked(dsn: str, table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hold an exclusive lock on `table`; the sync's connections time out waiting for it."""
    with psycopg.connect(dsn) as holder:
        holder.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=500")
        try:
            yield
        finally:
            monkeypatch.delenv("PGOPTIONS")


def _run(sync_stack, run_id: int) -> dict[str, Any]:
    return sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE run_id = %s", run_id)[0]


def _watermarks(sync_stack, object_name: str) -> list[dict[str, Any]]:
    return sync_stack.warehouse("SELECT watermark, run_id, updated_at FROM crm_sync.watermarks WHERE object = %s",
                                object_name)


def _assert_published_once(sync_stack, run_id: int, object_name: str, table: str) -> dict[str, Any]:
    """The run succeeded, its watermark is the window's end; publishing it again changes nothing."""
    done = _run(sync_stack, run_id)
    assert done["status"] == "succeeded" and done["error"] is None, done  # the failed attempt's error is cleared
    watermarks = _watermarks(sync_stack, object_name)
    assert [(w["watermark"], w["run_id"]) for w in watermarks] == [(done["window_end"], run_id)]
    rows = sync_stack.marketing(f"SELECT count(*) AS n, max(updated_at) AS last FROM {table}")  # noqa: S608
    again = publish(RunContext.load(), run_id)
    assert again.status.value == "succeeded" and again.created == done["created"]
    assert _run(sync_stack, run_id) == done  # the sync log row is untouched
    assert _watermarks(sync_stack, object_name) == watermarks  # moved once
    assert sync_stack.marketing(f"SELECT count(*) AS n, max(updated_at) AS last FROM {table}") == rows  # noqa: S608
    return done


def test_a_publish_retried_after_a_failed_load_loads_once(sync_stack, monkeypatch, assert_balanced) -> None:
    ctx = RunContext.load()
    prepare_object(ctx, "Contact")
    run_id = extract_changes(ctx, "Contact", dag_run_id="manual__resume_load")
    with _locked(sync_stack.databases.marketing, "people", monkeypatch), pytest.raises(psycopg.errors.LockNotAvailable):
        publish(ctx, run_id)
    failed = _run(sync_stack, run_id)
    assert failed["status"] == "failed" and failed["error"].startswith("load: ")
    assert failed["report"]["resume_at"] == "validated"
    assert sync_stack.marketing("SELECT count(*) AS n FROM people") == [{"n": 0}]  # nothing committed

    publish(ctx, run_id)
    done = _assert_published_once(sync_stack, run_id, "Contact", "people")
    assert done["durations"]["validate"] == failed["durations"]["validate"]  # not validated again
    assert done["created"] > 0 and done["unchanged"] == 0
    assert done["created"] == sync_stack.marketing("SELECT count(*) AS n FROM people")[0]["n"]
    assert_balanced(done)


def test_a_publish_retried_after_a_failed_finalize_keeps_the_first_loads_counts(
        sync_stack, monkeypatch, assert_balanced) -> None:
    ctx = RunContext.load()
    prepare_object(ctx, "Contact")
    run_id = extract_changes(ctx, "Contact", dag_run_id="manual__resume_finalize")
    with _locked(sync_stack.databases.warehouse, "crm_sync.synced_records", monkeypatch), \
            pytest.raises(psycopg.errors.LockNotAvailable):
        publish(ctx, run_id)
    failed = _run(sync_stack, run_id)
    assert failed["status"] == "failed" and failed["error"].startswith("finalize: ")
    assert failed["report"]["resume_at"] == "loaded" and failed["created"] > 0
    assert _watermarks(sync_stack, "Contact") == []  # rolled back with the failed finalize

    publish(ctx, run_id)
    done = _assert_published_once(sync_stack, run_id, "Contact", "people")
    # Loading again would have counted every record unchanged.
    assert {k: done[k] for k in COUNTS} == {k: failed[k] for k in COUNTS}
    assert done["durations"]["load"] == failed["durations"]["load"]  # not loaded again
    assert_balanced(done)


def test_a_retried_full_sync_task_resumes_after_its_extraction(sync_stack, monkeypatch, assert_balanced) -> None:
    ctx = RunContext.load()
    prepare_object(ctx, "Account", respect_lock=False)
    run_id = extract_full(ctx, "Account", dag_run_id="manual__resume_full")
    with _locked(sync_stack.databases.warehouse, "crm_sync.synced_records", monkeypatch), \
            pytest.raises(psycopg.errors.LockNotAvailable):
        publish(ctx, run_id)
    failed = _run(sync_stack, run_id)
    assert failed["report"]["resume_at"] == "loaded" and failed["created"] > 0

    # The task's retry, as `sync_object` runs it: the same sync run, not extracted again.
    assert extract_full(ctx, "Account", dag_run_id="manual__resume_full") == run_id
    assert _run(sync_stack, run_id)["api_calls"] == failed["api_calls"]
    publish(ctx, run_id)
    done = _assert_published_once(sync_stack, run_id, "Account", "accounts")
    assert {k: done[k] for k in COUNTS} == {k: failed[k] for k in COUNTS}
    assert_balanced(done)
