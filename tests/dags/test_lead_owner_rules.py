"""Owners of the Leads the write-back creates: a fixed user, a queue, or Salesforce's assignment
rule (Bulk API 2.0's `assignmentRuleId`, applied by the emulator); a retried write-back never
duplicates a Lead, and the next cycle writes nothing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg
import pytest

from crm_sync.context import RunContext
from crm_sync.mapping.model import Owner
from crm_sync.paths import INCLUDE_DIR
from crm_sync.reference_data import refresh_reference_data
from crm_sync.writeback.owners import UnknownOwner, resolve_owner
from emulator.ids import make_id
from tests.dags.test_writeback import assert_counted, edit, run_differentials, run_writeback, writeback_runs

DEFAULT_OWNER = "  owner: {assignment_rule: default}"


def _owner_mapping(tmp_path: Path, monkeypatch, owner: str) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    lead = mappings / "lead.yaml"
    text = lead.read_text()
    assert DEFAULT_OWNER in text
    lead.write_text(text.replace(DEFAULT_OWNER, f"  owner: {owner}"))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))


@pytest.fixture
def routed(sync_stack, monkeypatch):
    """Contacts and Leads imported, reference data (users, queues) published, write-back queue empty."""
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.01")
    run_differentials(sync_stack)
    refresh_reference_data(RunContext.load(), [])
    run_writeback()
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    return sync_stack


def _queue(stack, name: str) -> str:
    return stack.marketing("SELECT sf_id FROM crm_queues WHERE name = %s", name)[0]["sf_id"]


def _new_people(stack, *sources: str | None) -> list[str]:
    stamp = int(time.time() * 1000)
    emails = [f"owner.{stamp}.{i}@example.org" for i in range(len(sources))]
    for email, source in zip(emails, sources, strict=True):
        edit(stack, "INSERT INTO people (email, last_name, lead_source) VALUES (%s, 'Owned', %s)", email, source)
    return emails


def _owners(stack, emails: list[str]) -> list[str]:
    links = {r["email"]: r["lead_sf_id"] for r in stack.marketing(
        "SELECT email, lead_sf_id FROM people WHERE email = ANY(%s)", emails)}
    return [stack.admin.get("Lead", links[email])["OwnerId"] for email in emails]


def _assert_settled(stack) -> None:
    lead_run = run_differentials(stack)["Lead"]
    assert (lead_run["created"], lead_run["updated"], lead_run["archived"]) == (0, 0, 0)
    again = writeback_runs(stack, run_writeback())
    assert all((r["extracted"], r["created"], r["api_calls"]) == (0, 0, 0) for r in again.values()), again


def test_the_assignment_rule_assigns_new_leads(routed) -> None:
    web, partner, other = _new_people(routed, "Web", "Partner Referral", None)
    dag_run = run_writeback()
    run = writeback_runs(routed, dag_run)["Lead"]
    assert_counted(run)
    assert (run["created"], run["failed"]) == (3, 0)
    # Standard Lead Assignment: Web → the Web Leads queue, partners → user 2, the rest → Lead Inbox.
    assert _owners(routed, [web, partner, other]) == [_queue(routed, "Web Leads"), make_id("005", 2),
                                                       _queue(routed, "Lead Inbox")]
    owner = routed.marketing("SELECT owner_sf_id FROM people WHERE email = %s", web)
    assert owner == [{"owner_sf_id": _queue(routed, "Web Leads")}]  # read back by the refresh
    _assert_settled(routed)


def test_a_fixed_user_owns_new_leads(routed, tmp_path, monkeypatch) -> None:
    user = routed.marketing("SELECT sf_id, username FROM crm_users WHERE sf_id = %s", make_id("005", 4))[0]
    _owner_mapping(tmp_path, monkeypatch, "{user: " + user["username"] + "}")
    emails = _new_people(routed, "Web", None)
    run_writeback()
    assert _owners(routed, emails) == [user["sf_id"], user["sf_id"]]  # no rule: the Web source does not matter
    _assert_settled(routed)


def test_a_queue_owns_new_leads_and_a_retry_never_duplicates(routed, tmp_path, monkeypatch) -> None:
    _owner_mapping(tmp_path, monkeypatch, "{queue: Lead Inbox}")
    [email] = _new_people(routed, "Partner Referral")
    run_writeback()
    assert _owners(routed, [email]) == [_queue(routed, "Lead Inbox")]
    # As if an attempt had created the Lead and died before linking it: the retry links by email.
    [earlier] = _new_people(routed, None)
    lead_id = routed.admin.insert("Lead", {"LastName": "Earlier attempt", "Company": "Acme", "Email": earlier})
    run = writeback_runs(routed, run_writeback())["Lead"]
    assert (run["created"], run["failed"]) == (0, 0)  # linked, its Salesforce-owned name restored
    assert routed.marketing("SELECT lead_sf_id FROM people WHERE email = %s", earlier) == [{"lead_sf_id": lead_id}]
    assert [r["Id"] for r in leads_by_email(routed, earlier)] == [lead_id]
    assert len(leads_by_email(routed, email)) == 1
    _assert_settled(routed)


def test_unknown_owners_fail_clearly(routed) -> None:
    with psycopg.connect(routed.databases.marketing) as mk:
        for owner, message in ((Owner(user="nobody@example.com"), "no active Salesforce user 'nobody@example.com'"),
                               (Owner(queue="Escalations"), "no active queue 'Escalations' that takes Leads"),
                               (Owner(assignment_rule="Gone"), "no Lead assignment rule 'Gone'")):
            with pytest.raises(UnknownOwner, match=message):
                resolve_owner(mk, owner, rules=lambda: [{"Id": make_id("01Q", 1), "Name": "Standard",
                                                         "SobjectType": "Lead", "Active": True}])
        with pytest.raises(UnknownOwner, match="no active Lead assignment rule"):
            resolve_owner(mk, Owner(assignment_rule="default"), rules=lambda: [])


def leads_by_email(stack, email: str) -> list[dict]:
    from simple_salesforce import Salesforce

    from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME

    sf = Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_SECURITY_TOKEN,
                    domain=stack.emulator.login_domain)
    return sf.query_all(f"SELECT Id FROM Lead WHERE Email = '{email}'")["records"]
