"""A Contact mapping filtered on campaign membership: every entry point honours it.

dag.test() of the differential, record sync, full sync (mirror) and reconciliation against
PostgreSQL, the emulator over HTTPS and Great Expectations, with a temporary mapping
directory whose Contact mapping keeps only the members of one campaign. Joining or leaving
the campaign changes only the CampaignMember row, never the Contact: the differential still
notices. Each sync runs twice; the second changes nothing."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState

from crm_sync.paths import INCLUDE_DIR


class Lists:
    """The stack with a campaign, and the Contact mapping filtered on its members."""

    def __init__(self, stack: Any, campaign: str) -> None:
        self.stack = stack
        self.campaign = campaign
        self.admin = stack.admin

    def contact(self, *, member: bool) -> tuple[str, str | None]:
        """A new Contact (its Id) and, if `member`, its CampaignMember's Id."""
        stamp = f"{time.time_ns()}"
        contact = self.admin.insert("Contact", {"LastName": f"List {stamp}", "Email": f"list.{stamp}@example.com"})
        return contact, (self.join(contact) if member else None)

    def join(self, contact: str) -> str:
        return self.admin.insert("CampaignMember", {"CampaignId": self.campaign, "ContactId": contact})

    def differential(self) -> dict[str, Any]:
        time.sleep(0.05)
        assert self.stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
        return self.stack.last_run("Contact")

    def person(self, contact: str) -> dict[str, Any] | None:
        rows = self.stack.marketing("SELECT archived_at, archive_reason FROM people WHERE contact_sf_id = %s", contact)
        return rows[0] if rows else None


@pytest.fixture
def lists(sync_stack, tmp_path, monkeypatch) -> Lists:
    """A new campaign with one member; the Contact mapping keeps its members; Contacts imported."""
    campaign = sync_stack.admin.insert("Campaign", {"Name": f"List {time.time_ns()}", "IsActive": True})
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    contact = mappings / "contact.yaml"
    text = contact.read_text()
    assert "\nfilter:" not in text
    condition = f"Id IN (SELECT ContactId FROM CampaignMember WHERE CampaignId = '{campaign}')"
    contact.write_text(text.replace("\nfields:", f'\nfilter: "{condition}"\nfields:', 1))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    # No lookback: a Contact created before a differential is outside the next one's window,
    # so only its membership row can bring it in.
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "0")
    stack = Lists(sync_stack, campaign)
    stack.contact(member=True)
    stack.differential()
    return stack


def test_joining_and_leaving_the_campaign_is_noticed_without_the_contact_changing(lists, assert_balanced) -> None:
    joiner, _ = lists.contact(member=False)
    first = lists.differential()  # the new Contact is in the window, outside the list: not loaded
    assert_balanced(first)
    assert lists.person(joiner) is None and first["created"] == 0

    member = lists.join(joiner)  # only the CampaignMember row changes
    joined = lists.differential()
    assert_balanced(joined)
    assert (joined["created"], joined["archived"]) == (1, 0)
    assert joined["report"]["membership_changes"] == 1 and joined["report"]["membership_reread"] == 1
    assert joined["extracted"] == 1
    assert lists.person(joiner) == {"archived_at": None, "archive_reason": None}
    calls = joined["api_calls"]
    again = lists.differential()
    assert_balanced(again)
    assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0)

    lists.admin.delete("CampaignMember", member)
    left = lists.differential()
    assert_balanced(left)
    assert left["archived"] == 1 and left["report"]["left_filter"] == [joiner]
    assert lists.person(joiner)["archive_reason"] == "left_filter"
    assert lists.stack.warehouse(
        "SELECT outcome, reason FROM crm_sync.record_events WHERE run_id = %s AND sf_id = %s",
        left["run_id"], joiner) == [{"outcome": "archived", "reason": "left_filter"}]
    again = lists.differential()
    assert_balanced(again)
    assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0)

    lists.join(joiner)  # back in the list, the Contact still unchanged: unarchived
    back = lists.differential()
    assert_balanced(back)
    assert lists.person(joiner) == {"archived_at": None, "archive_reason": None}
    assert back["archived"] == 0 and back["created"] + back["updated"] == 1
    again = lists.differential()
    assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0)
    # A few calls per differential: describe, count, window, live Ids, member changes, re-reads.
    assert calls <= 8, calls


def test_the_record_sync_honours_membership(lists, assert_balanced) -> None:
    member, _ = lists.contact(member=True)
    stranger, _ = lists.contact(member=False)
    for attempt in (1, 2):
        dag_run = lists.stack.run_dag("crm_record_sync", object="Contact", ids=f"{member}\n{stranger}")
        assert dag_run.state == DagRunState.SUCCESS, lists.stack.task_states(dag_run)
        run = lists.stack.last_run("Contact")
        assert run["kind"] == "record"
        assert_balanced(run)
        assert run["report"]["left_filter"] == [stranger] and run["report"]["not_found"] == []
        assert (run["created"], run["updated"], run["archived"]) == ((1, 0, 0) if attempt == 1 else (0, 0, 0))
    assert lists.person(member) == {"archived_at": None, "archive_reason": None}
    assert lists.person(stranger) is None


def _unseen_by_differentials(lists: Lists) -> None:
    with psycopg.connect(lists.stack.databases.warehouse) as wh:
        wh.execute("UPDATE crm_sync.watermarks SET watermark = %s", (datetime.now(UTC) + timedelta(minutes=1),))


def test_mirror_and_reconciliation_archive_members_who_left_as_left_filter(lists) -> None:
    by_mirror, mirror_member = lists.contact(member=True)
    by_reconcile, reconcile_member = lists.contact(member=True)
    lists.differential()
    assert lists.person(by_mirror) and lists.person(by_reconcile)
    _unseen_by_differentials(lists)
    lists.admin.delete("CampaignMember", mirror_member)
    for attempt in (1, 2):
        dag_run = lists.stack.run_dag("crm_full_sync", objects=["Contact"], mode="mirror", dry_run=False)
        assert dag_run.state == DagRunState.SUCCESS, lists.stack.task_states(dag_run)
        run = lists.stack.last_run("Contact")
        assert run["report"]["mirror_archived"] == (1 if attempt == 1 else 0)
        assert (run["created"], run["updated"]) == (0, 0)
    assert lists.person(by_mirror)["archive_reason"] == "left_filter"
    assert lists.person(by_reconcile)["archived_at"] is None

    lists.admin.delete("CampaignMember", reconcile_member)
    _unseen_by_differentials(lists)
    for attempt in (1, 2):
        dag_run = lists.stack.run_dag("crm_reconcile")
        assert dag_run.state == DagRunState.SUCCESS, lists.stack.task_states(dag_run)
        [report] = [r["report"] for r in lists.stack.warehouse(
            "SELECT report FROM crm_sync.sync_runs WHERE kind = 'reconcile' AND object = 'Contact'"
            " ORDER BY run_id DESC LIMIT 1")]
        repaired = report.get("repaired", {})
        assert repaired.get("archived_left_filter", 0) == (1 if attempt == 1 else 0), report
        assert repaired.get("archived_gone", 0) == 0, report
    assert lists.person(by_reconcile)["archive_reason"] == "left_filter"
