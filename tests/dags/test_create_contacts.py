"""Creating people as Contacts instead of Leads (journy.io): the Contact mapping creates them under
the Account named by their company (found, or created once), the Lead mapping then creates
nothing, a person without a company is skipped saying so, and the next cycle writes nothing."""

from __future__ import annotations

import shutil
import time

import pytest

from crm_sync.paths import INCLUDE_DIR
from crm_sync.writeback.create_contacts import NO_ACCOUNT
from tests.dags.test_lead_owner_rules import DEFAULT_OWNER, leads_by_email
from tests.dags.test_writeback import (
    assert_counted,
    edit,
    results,
    run_differentials,
    run_writeback,
    writeback_runs,
)


@pytest.fixture
def contact_creates(sync_stack, tmp_path, monkeypatch):
    """The shipped mappings with the Contact mapping creating people; Contacts and Leads imported."""
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    lead, contact = mappings / "lead.yaml", mappings / "contact.yaml"
    text = lead.read_text()
    assert "  create: true " in text and DEFAULT_OWNER in text
    kept = [line for line in text.splitlines(keepends=True) if not line.startswith(DEFAULT_OWNER)]
    lead.write_text("".join(kept).replace("  create: true ", "  create: false "))
    text = contact.read_text()
    contact.write_text(text.replace("mode: create_and_update\n", "mode: create_and_update\n"
                                    "writeback: {create: true, account: {match: company_name}}\n"))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.01")
    run_differentials(sync_stack)
    run_writeback()
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    return sync_stack


def test_the_contact_mapping_creates_people_under_their_company_account(contact_creates) -> None:
    stack = contact_creates
    stamp = int(time.time() * 1000)
    known = f"Known Works {stamp}"
    known_id = stack.admin.insert("Account", {"Name": known})
    new_company = f"New Ventures {stamp}"
    emails = {name: f"{name}.{stamp}@example.org" for name in ("first", "second", "known", "nocompany")}
    for name, company in (("first", new_company), ("second", new_company), ("known", known.upper()),
                          ("nocompany", None)):
        edit(stack, "INSERT INTO people (email, first_name, last_name, company, lead_score) VALUES (%s, %s, 'New', %s, 7)",
             emails[name], name.title(), company)

    dag_run = run_writeback()
    run = writeback_runs(stack, dag_run)["Contact"]
    assert_counted(run)
    assert (run["created"], run["failed"], run["skipped_reasons"]) == (3, 0, {NO_ACCOUNT: 1})
    assert "Lead" not in writeback_runs(stack, dag_run) or writeback_runs(stack, dag_run)["Lead"]["created"] == 0
    skipped = [r for r in results(stack, dag_run) if r["outcome"] == "skipped"]
    assert [(r["object"], r["reason"]) for r in skipped] == [("Contact", NO_ACCOUNT)]

    people = {r["email"]: r for r in stack.marketing(
        "SELECT email, contact_sf_id, lead_sf_id, account_sf_id FROM people WHERE email = ANY(%s)",
        list(emails.values()))}
    contacts = {name: stack.admin.get("Contact", people[email]["contact_sf_id"])
                for name, email in emails.items() if name != "nocompany"}
    assert contacts["known"]["AccountId"] == known_id
    assert contacts["first"]["AccountId"] == contacts["second"]["AccountId"] != known_id
    created_account = stack.admin.get("Account", contacts["first"]["AccountId"])
    assert created_account["Name"] == new_company
    assert (contacts["first"]["LastName"], contacts["first"]["Lead_Score__c"]) == ("New", 7)
    assert all(people[e]["lead_sf_id"] is None for e in emails.values())
    assert all(not leads_by_email(stack, e) for e in emails.values())  # no Lead anywhere
    assert people[emails["known"]]["account_sf_id"] == known_id  # read back by the refresh
    assert people[emails["nocompany"]]["contact_sf_id"] is None

    # The next cycle: nothing changes inbound, nothing is written.
    for cycle in (1, 2):
        inbound = run_differentials(stack)
        for object_name, sync_run in inbound.items():
            assert (sync_run["created"], sync_run["updated"], sync_run["archived"]) == (0, 0, 0), (cycle, object_name)
        again = writeback_runs(stack, run_writeback())
        assert all((r["extracted"], r["created"], r["api_calls"]) == (0, 0, 0) for r in again.values()), again
