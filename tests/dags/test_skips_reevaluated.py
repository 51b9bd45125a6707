"""Skips whose cause goes away are re-evaluated: a record blocked by another record's match key
comes back once that record lets go of the key, although the blocked record itself never changes."""

from __future__ import annotations

import pytest
from airflow.utils.state import DagRunState


@pytest.fixture(autouse=True)
def _no_lookback(monkeypatch) -> None:
    """No overlap re-read: what brings a blocked record back must be its re-evaluation."""
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "0")


def _blocked_pair(sync_stack, obj: str, key_field: str, key: str, holder_key: str | None = None) -> tuple[str, str]:
    """Two new records sharing a key (the holder's may differ by blanks or case); (holder, blocked)."""
    first = sync_stack.admin.insert(obj, {"LastName" if obj == "Contact" else "Name": "Holder",
                                          key_field: holder_key or key})
    second = sync_stack.admin.insert(obj, {"LastName" if obj == "Contact" else "Name": "Blocked",
                                           key_field: key, "Title" if obj == "Contact" else "Industry":
                                           "Technology" if obj == "Account" else "Waiting its turn"})
    holder, blocked = sorted([first, second])  # among new records the lowest Id takes the key
    return holder, blocked


def _synced(sync_stack, dag_id: str, assert_balanced) -> None:
    dag_run = sync_stack.run_dag(dag_id)
    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    for run in sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs ORDER BY run_id"):
        assert_balanced(run)


def _skips(sync_stack, sf_id: str) -> list[str]:
    return [r["reason"] for r in sync_stack.warehouse(
        "SELECT reason FROM crm_sync.skipped WHERE sf_id = %s ORDER BY run_id", sf_id)]


def _blocked(sync_stack, *sf_ids: str) -> list[dict]:
    """The blocked records among these (the demo org carries duplicates of its own)."""
    return sync_stack.warehouse("SELECT sf_id, match_key FROM crm_sync.blocked_records WHERE sf_id = ANY(%s)",
                                list(sf_ids))


def test_a_duplicate_email_loads_once_its_owner_changes_email(sync_stack, assert_balanced) -> None:
    holder, blocked = _blocked_pair(sync_stack, "Contact", "Email", "shared.owner@example.com",
                                    holder_key="Shared.Owner@Example.COM")
    _synced(sync_stack, "crm_differential_contact", assert_balanced)
    assert _skips(sync_stack, blocked) == ["duplicate_email"]
    person = sync_stack.marketing("SELECT contact_sf_id FROM people WHERE email = 'shared.owner@example.com'")
    assert person == [{"contact_sf_id": holder}]
    assert _blocked(sync_stack, holder, blocked) == [{"sf_id": blocked, "match_key": "shared.owner@example.com"}]

    # The owner lets go of the email; the blocked Contact itself does not change.
    sync_stack.admin.update("Contact", holder, {"Email": "owner.moved@example.com"})
    _synced(sync_stack, "crm_differential_contact", assert_balanced)

    people = {r["email"]: r for r in sync_stack.marketing(
        "SELECT email, contact_sf_id, last_name, title, archived_at FROM people"
        " WHERE email IN ('shared.owner@example.com', 'owner.moved@example.com')")}
    assert people["owner.moved@example.com"]["contact_sf_id"] == holder
    came_back = people["shared.owner@example.com"]
    assert (came_back["contact_sf_id"], came_back["last_name"], came_back["title"], came_back["archived_at"]) == (
        blocked, "Blocked", "Waiting its turn", None)
    repair = sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind = 'repair'")
    assert len(repair) == 1 and repair[0]["created"] + repair[0]["updated"] == 1
    assert _blocked(sync_stack, holder, blocked) == []

    # Nothing is left to re-evaluate: the next run re-reads nothing.
    _synced(sync_stack, "crm_differential_contact", assert_balanced)
    assert len(sync_stack.warehouse("SELECT run_id FROM crm_sync.sync_runs WHERE kind = 'repair'")) == 1


def test_a_duplicate_email_loads_once_its_owner_is_deleted(sync_stack, assert_balanced) -> None:
    holder, blocked = _blocked_pair(sync_stack, "Contact", "Email", "deleted.owner@example.com")
    _synced(sync_stack, "crm_differential_contact", assert_balanced)
    assert _skips(sync_stack, blocked) == ["duplicate_email"]

    sync_stack.admin.delete("Contact", holder)
    _synced(sync_stack, "crm_differential_contact", assert_balanced)

    person = sync_stack.marketing("SELECT contact_sf_id, last_name, archived_at FROM people"
                                  " WHERE email = 'deleted.owner@example.com'")
    assert person == [{"contact_sf_id": blocked, "last_name": "Blocked", "archived_at": None}]
    assert _blocked(sync_stack, holder, blocked) == []


def test_a_duplicate_match_key_loads_once_its_holder_changes_key(sync_stack, assert_balanced) -> None:
    holder, blocked = _blocked_pair(sync_stack, "Account", "External_Id__c", "EXT-REEVAL-1",
                                    holder_key="EXT-REEVAL-1 ")
    _synced(sync_stack, "crm_differential_account", assert_balanced)
    assert _skips(sync_stack, blocked) == ["duplicate_match_key"]
    assert sync_stack.marketing("SELECT sf_id FROM accounts WHERE external_id = 'EXT-REEVAL-1'") == [
        {"sf_id": holder}]

    sync_stack.admin.update("Account", holder, {"External_Id__c": "EXT-REEVAL-2"})
    _synced(sync_stack, "crm_differential_account", assert_balanced)

    rows = {r["sf_id"]: r for r in sync_stack.marketing(
        "SELECT sf_id, external_id, name, industry FROM accounts WHERE sf_id = ANY(%s)", [holder, blocked])}
    assert rows[holder]["external_id"] == "EXT-REEVAL-2"
    assert (rows[blocked]["external_id"], rows[blocked]["name"], rows[blocked]["industry"]) == (
        "EXT-REEVAL-1", "Blocked", "Technology")
