"""The write-back scope: only the people of a marketing segment are created or updated in Salesforce.

dag.test() of the differentials and crm_writeback against PostgreSQL, the emulator over
HTTPS and Great Expectations, with a temporary mapping directory whose Contact and Lead
mappings say `writeback: {scope: vip}`. Each write-back is run twice: the second cycle
reads nothing and calls nothing."""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest

from crm_sync.paths import INCLUDE_DIR
from tests.dags.test_writeback import (
    contacts_only,
    edit,
    results,
    run_differentials,
    run_writeback,
    writeback_runs,
)

SEGMENT = "vip"


def quiet(stack) -> None:
    """A write-back cycle with nothing to do: no change read, no API call."""
    runs = writeback_runs(stack, run_writeback())
    assert {(o, r["extracted"], r["api_calls"]) for o, r in runs.items()} == {(o, 0, 0) for o in runs}, runs


def enter(stack, *person_ids: int) -> None:
    for person_id in person_ids:
        edit(stack, "INSERT INTO crm_segment_members (segment, person_id) VALUES (%s, %s)", SEGMENT, person_id)


def new_person(stack, name: str) -> int:
    email = f"{name}.{time.time_ns()}@example.org"
    [(person_id,)] = edit(stack, "INSERT INTO people (email, last_name, lead_score) VALUES (%s, %s, 5)"
                          " RETURNING id", email, name.title())
    return int(person_id)


def lead_of(stack, person_id: int) -> str | None:
    return stack.marketing("SELECT lead_sf_id FROM people WHERE id = %s", person_id)[0]["lead_sf_id"]


@pytest.fixture
def scoped(sync_stack, tmp_path, monkeypatch) -> Any:
    """Contacts and Leads imported, their write-back scoped to the segment `vip`, the queue empty."""
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    contact = mappings / "contact.yaml"
    contact.write_text(contact.read_text().replace("\nfields:", f"\nwriteback: {{scope: {SEGMENT}}}\nfields:", 1))
    lead = mappings / "lead.yaml"
    text = lead.read_text()
    assert "writeback:\n  create: true" in text
    lead.write_text(text.replace("writeback:\n  create: true", f"writeback:\n  scope: {SEGMENT}\n  create: true", 1))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.01")
    run_differentials(sync_stack)
    # The import queued people whose records disagree on the opt-out: nobody is in the
    # segment yet, so they leave the queue out of scope, unwritten.
    settled = results(sync_stack, run_writeback())
    assert {(r["outcome"], r["reason"]) for r in settled} <= {("skipped", "out_of_scope")}, settled
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    return sync_stack


def test_only_people_in_the_segment_reach_salesforce_and_entering_it_writes_them(scoped) -> None:
    inside, outside = contacts_only(scoped, 2)
    enter(scoped, inside["id"])
    for person, score in ((inside, 81), (outside, 82)):
        edit(scoped, "UPDATE people SET lead_score = %s WHERE id = %s", score, person["id"])
    newcomer, stranger = new_person(scoped, "newcomer"), new_person(scoped, "stranger")
    enter(scoped, newcomer)
    before = scoped.admin.get("Contact", outside["contact_sf_id"])["Lead_Score__c"]

    dag_run = run_writeback()
    assert scoped.admin.get("Contact", inside["contact_sf_id"])["Lead_Score__c"] == 81
    assert scoped.admin.get("Contact", outside["contact_sf_id"])["Lead_Score__c"] == before != 82
    assert lead_of(scoped, newcomer) and lead_of(scoped, stranger) is None
    outcomes = {(r["marketing_id"], r["object"], r["outcome"], r["reason"]) for r in results(scoped, dag_run)}
    assert outcomes == {(inside["id"], "Contact", "updated", None),
                        (outside["id"], "Contact", "skipped", "out_of_scope"),
                        (newcomer, "Lead", "created", None),
                        (stranger, "Lead", "skipped", "out_of_scope")}, outcomes
    runs = writeback_runs(scoped, dag_run)
    assert runs["Contact"]["skipped_reasons"] == {"out_of_scope": 1}
    assert runs["Lead"]["skipped_reasons"] == {"out_of_scope": 1} and runs["Lead"]["created"] == 1
    assert scoped.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]  # nothing silently kept
    quiet(scoped)

    # Entering the segment writes what changed while outside it.
    enter(scoped, outside["id"], stranger)
    dag_run = run_writeback()
    assert scoped.admin.get("Contact", outside["contact_sf_id"])["Lead_Score__c"] == 82
    created = lead_of(scoped, stranger)
    assert created and scoped.admin.get("Lead", created)["Lead_Score__c"] == 5
    outcomes = {(r["marketing_id"], r["object"], r["outcome"]) for r in results(scoped, dag_run)}
    assert outcomes == {(outside["id"], "Contact", "updated"), (stranger, "Lead", "created")}, outcomes
    quiet(scoped)
