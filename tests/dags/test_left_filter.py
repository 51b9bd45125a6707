"""Records that leave a mapping's filter are archived `left_filter` by every entry point.

dag.test() of the differential, record sync, full sync (mirror) and reconciliation against
PostgreSQL, the emulator over HTTPS and Great Expectations, with a temporary mapping
directory whose Account mapping has a filter."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState

from crm_sync.paths import INCLUDE_DIR

FILTER = "Website != 'excluded.example'"
OUT = {"Website": "excluded.example"}


@pytest.fixture
def filtered(sync_stack, tmp_path, monkeypatch) -> Any:
    """The stack with the Account mapping filtered and Accounts imported."""
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    account = mappings / "account.yaml"
    text = account.read_text()
    assert "\nfilter:" not in text
    account.write_text(text.replace("\nfields:", f'\nfilter: "{FILTER}"\nfields:', 1))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    differential(sync_stack)
    return sync_stack


def differential(stack) -> dict[str, Any]:
    assert stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    return stack.last_run("Account")


def accounts(stack, n: int, offset: int = 0) -> list[str]:
    """Ids of active marketing accounts."""
    return [r["sf_id"] for r in stack.marketing(
        "SELECT sf_id FROM accounts WHERE archived_at IS NULL ORDER BY sf_id LIMIT %s OFFSET %s", n, offset)]


def row(stack, sf_id: str) -> dict[str, Any] | None:
    rows = stack.marketing("SELECT website, archived_at, archive_reason FROM accounts WHERE sf_id = %s", sf_id)
    return rows[0] if rows else None


def test_a_record_leaving_the_filter_is_archived_left_filter_and_comes_back(filtered, assert_balanced) -> None:
    [leaver] = accounts(filtered, 1)
    filtered.admin.update("Account", leaver, OUT)
    time.sleep(0.05)
    run = differential(filtered)
    assert_balanced(run)
    assert run["archived"] == 1 and run["report"]["left_filter"] == [leaver]
    assert row(filtered, leaver)["archive_reason"] == "left_filter"
    assert filtered.warehouse("SELECT outcome, reason FROM crm_sync.record_events WHERE run_id = %s AND sf_id = %s",
                              run["run_id"], leaver) == [{"outcome": "archived", "reason": "left_filter"}]
    # Re-read by the lookback: already archived, nothing counted again.
    again = differential(filtered)
    assert_balanced(again)
    assert again["archived"] == 0
    # Back into the filter: the normal upsert unarchives it.
    filtered.admin.update("Account", leaver, {"Website": "back.example"})
    time.sleep(0.05)
    back = differential(filtered)
    assert_balanced(back)
    assert row(filtered, leaver) == {"website": "back.example", "archived_at": None, "archive_reason": None}


def test_the_record_sync_honours_the_filter(filtered, assert_balanced) -> None:
    [leaver] = accounts(filtered, 1, offset=5)
    filtered.admin.update("Account", leaver, OUT)
    stranger = filtered.admin.insert("Account", {"Name": f"Outside {int(time.time() * 1000)}", **OUT})
    dag_run = filtered.run_dag("crm_record_sync", object="Account", ids=f"{leaver}\n{stranger}")
    assert dag_run.state == DagRunState.SUCCESS, filtered.task_states(dag_run)
    run = filtered.last_run("Account")
    assert run["kind"] == "record"
    assert_balanced(run)
    assert run["report"]["left_filter"] == sorted([leaver, stranger]) and run["report"]["not_found"] == []
    assert (run["created"], run["updated"], run["archived"]) == (0, 0, 1)
    assert row(filtered, leaver)["archive_reason"] == "left_filter"
    assert row(filtered, stranger) is None  # outside the filter: never loaded


def test_mirror_and_reconciliation_archive_left_filter_not_gone(filtered) -> None:
    by_mirror, by_reconcile, purged = accounts(filtered, 3, offset=10)
    # Unseen by any differential: the watermark is already past these changes.
    with psycopg.connect(filtered.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))
    filtered.admin.update("Account", by_mirror, OUT)
    filtered.admin.purge("Account", purged)
    dag_run = filtered.run_dag("crm_full_sync", objects=["Account"], mode="mirror", dry_run=False)
    assert dag_run.state == DagRunState.SUCCESS, filtered.task_states(dag_run)
    assert filtered.last_run("Account")["report"]["mirror_archived"] == 2
    assert row(filtered, by_mirror)["archive_reason"] == "left_filter"
    assert row(filtered, purged)["archive_reason"] == "Account no longer in Salesforce"

    filtered.admin.update("Account", by_reconcile, OUT)
    with psycopg.connect(filtered.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))
    dag_run = filtered.run_dag("crm_reconcile")
    assert dag_run.state == DagRunState.SUCCESS, filtered.task_states(dag_run)
    [report] = [r["report"] for r in filtered.warehouse(
        "SELECT report FROM crm_sync.sync_runs WHERE kind = 'reconcile' AND object = 'Account'")]
    assert report["repaired"]["archived_left_filter"] == 1 and report["repaired"]["archived_gone"] == 0
    assert row(filtered, by_reconcile)["archive_reason"] == "left_filter"
