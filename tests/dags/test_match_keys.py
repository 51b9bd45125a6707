"""Match keys: normalised alike on both sides; a collision is a counted skip, never a takeover;
a differential and a full sync decide it the same way, in either order."""

from __future__ import annotations

import pytest
from airflow.utils.state import DagRunState


@pytest.fixture(autouse=True)
def _no_lookback(monkeypatch) -> None:
    """A differential reads only what changed since the last run (no overlap re-read)."""
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "0")

_ROWS = "SELECT sf_id, external_id, name, sf_system_modstamp, archived_at FROM accounts ORDER BY sf_id"


def _run(sync_stack, dag_id: str, assert_balanced, **params) -> dict:
    dag_run = sync_stack.run_dag(dag_id, **params)
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    run = sync_stack.last_run("Account")
    assert_balanced(run)
    return run


def _collision(sync_stack, key: str) -> tuple[str, str]:
    """An account holding `key`, then one whose key differs only by a trailing space."""
    holder = sync_stack.admin.insert("Account", {"Name": "Holder", "External_Id__c": key})
    intruder = sync_stack.admin.insert("Account", {"Name": "Intruder", "External_Id__c": key + " "})
    assert holder < intruder
    return holder, intruder


def _assert_holder_kept(sync_stack, holder: str, intruder: str, key: str) -> None:
    rows = {r["sf_id"]: r for r in sync_stack.marketing(
        "SELECT sf_id, external_id, name FROM accounts WHERE sf_id = ANY(%s) OR external_id = %s",
        [holder, intruder], key)}
    assert rows == {holder: {"sf_id": holder, "external_id": key, "name": "Holder"}}
    reasons = [r["reason"] for r in sync_stack.warehouse(
        "SELECT reason FROM crm_sync.skipped WHERE sf_id = %s", intruder)]
    assert reasons and set(reasons) == {"duplicate_match_key"}


def test_differentials_then_a_full_sync_decide_a_key_collision_alike(sync_stack, assert_balanced) -> None:
    _run(sync_stack, "crm_differential_account", assert_balanced)
    empty_keys = sync_stack.marketing("SELECT count(*) AS n FROM accounts WHERE external_id IS NULL")
    holder, intruder = _collision(sync_stack, "EXT-COLLIDE-1")
    run = _run(sync_stack, "crm_differential_account", assert_balanced)
    assert run["skipped_reasons"].get("duplicate_match_key", 0) >= 1
    _assert_holder_kept(sync_stack, holder, intruder, "EXT-COLLIDE-1")
    after_differentials = sync_stack.marketing(_ROWS)

    full = _run(sync_stack, "crm_full_sync", assert_balanced, objects=["Account"], mode="upsert", dry_run=False)
    assert full["kind"] == "full" and (full["created"], full["updated"], full["archived"]) == (0, 0, 0)
    _assert_holder_kept(sync_stack, holder, intruder, "EXT-COLLIDE-1")
    assert sync_stack.marketing(_ROWS) == after_differentials
    assert sync_stack.marketing("SELECT count(*) AS n FROM accounts WHERE external_id IS NULL") == empty_keys


def test_a_full_sync_then_differentials_decide_a_key_collision_alike(sync_stack, assert_balanced) -> None:
    holder, intruder = _collision(sync_stack, "EXT-COLLIDE-2")
    full = _run(sync_stack, "crm_full_sync", assert_balanced, objects=["Account"], mode="upsert", dry_run=False)
    assert full["skipped_reasons"].get("duplicate_match_key", 0) >= 1
    _assert_holder_kept(sync_stack, holder, intruder, "EXT-COLLIDE-2")
    after_full = sync_stack.marketing(_ROWS)

    # The intruder changes (another name): its differential still does not take the row.
    sync_stack.admin.update("Account", intruder, {"Name": "Intruder again"})
    run = _run(sync_stack, "crm_differential_account", assert_balanced)
    assert run["extracted"] == run["skipped"] == 1 and run["skipped_reasons"] == {"duplicate_match_key": 1}
    _assert_holder_kept(sync_stack, holder, intruder, "EXT-COLLIDE-2")
    assert sync_stack.marketing(_ROWS) == after_full
