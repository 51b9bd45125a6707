"""An opt-out reaches every Salesforce record of a person (sticky: true wins, from either side).

dag.test() of the differentials and crm_writeback against PostgreSQL, the emulator over HTTPS
and Great Expectations. A person here has a Lead and a Contact with the same email."""

from __future__ import annotations

import time
from typing import Any

from tests.dags.test_writeback import (  # noqa: F401  (synced is a fixture)
    edit,
    results,
    run_differentials,
    run_writeback,
    synced,
    writeback_runs,
)


def _person_with_lead_and_contact(stack, name: str) -> dict[str, Any]:
    """A new Lead and Contact sharing one email, synced into one person; returns the person."""
    email = f"{name}.{int(time.time() * 1000)}@example.org"
    lead_id = stack.admin.insert("Lead", {"LastName": name.title(), "Company": "Both Ways", "Email": email})
    contact_id = stack.admin.insert("Contact", {"LastName": name.title(), "Email": email})
    time.sleep(0.05)
    run_differentials(stack)
    [person] = stack.marketing("SELECT id, email, lead_sf_id, contact_sf_id, unsubscribed FROM people"
                               " WHERE email = %s", email)
    assert (person["lead_sf_id"], person["contact_sf_id"], person["unsubscribed"]) == (lead_id, contact_id, False)
    return person


def _opted_out(stack, person: dict[str, Any]) -> tuple[bool, bool, bool]:
    """(Lead, Contact, marketing) opt-out flags of the person."""
    [row] = stack.marketing("SELECT unsubscribed FROM people WHERE id = %s", person["id"])
    return (stack.admin.get("Lead", person["lead_sf_id"])["HasOptedOutOfEmail"],
            stack.admin.get("Contact", person["contact_sf_id"])["HasOptedOutOfEmail"], row["unsubscribed"])


def _assert_quiet_cycle(stack) -> None:
    """A differential and a write-back after the opt-out settled: nothing loaded, nothing written."""
    for object_name, run in run_differentials(stack).items():
        assert (run["created"], run["updated"], run["archived"]) == (0, 0, 0), (object_name, run)
    for object_name, run in writeback_runs(stack, run_writeback()).items():
        assert (run["extracted"], run["updated"], run["api_calls"]) == (0, 0, 0), (object_name, run)
    assert stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_an_opt_out_through_the_lead_reaches_the_contact(synced) -> None:  # noqa: F811
    person = _person_with_lead_and_contact(synced, "optout-lead")
    synced.admin.update("Lead", person["lead_sf_id"], {"HasOptedOutOfEmail": True})
    time.sleep(0.05)
    run_differentials(synced)
    assert _opted_out(synced, person) == (True, False, True)
    # The inbound load queued the person: its Contact lacks the opt-out.
    assert synced.marketing("SELECT fields FROM crm_outbox WHERE tbl = 'people' AND row_id = %s",
                            person["id"]) == [{"fields": ["unsubscribed"]}]
    dag_run = run_writeback()
    assert _opted_out(synced, person) == (True, True, True)
    written = {(r["object"], r["sf_id"]): (r["outcome"], r["written"]) for r in results(synced, dag_run)}
    assert written[("Contact", person["contact_sf_id"])] == ("updated", ["HasOptedOutOfEmail"])
    _assert_quiet_cycle(synced)
    assert _opted_out(synced, person) == (True, True, True)


def test_an_opt_out_through_the_contact_reaches_the_lead(synced) -> None:  # noqa: F811
    person = _person_with_lead_and_contact(synced, "optout-contact")
    synced.admin.update("Contact", person["contact_sf_id"], {"HasOptedOutOfEmail": True})
    time.sleep(0.05)
    run_differentials(synced)
    run_writeback()
    assert _opted_out(synced, person) == (True, True, True)
    _assert_quiet_cycle(synced)


def test_a_marketing_side_opt_out_reaches_both_records(synced) -> None:  # noqa: F811
    person = _person_with_lead_and_contact(synced, "optout-marketing")
    edit(synced, "UPDATE people SET unsubscribed = true WHERE id = %s", person["id"])
    dag_run = run_writeback()
    assert _opted_out(synced, person) == (True, True, True)
    assert {(r["object"], r["outcome"]) for r in results(synced, dag_run)} == {("Lead", "updated"),
                                                                              ("Contact", "updated")}
    _assert_quiet_cycle(synced)


def test_a_record_that_joins_an_opted_out_person_gets_the_opt_out(synced) -> None:  # noqa: F811
    email = f"late-contact.{int(time.time() * 1000)}@example.org"
    lead_id = synced.admin.insert("Lead", {"LastName": "Late", "Company": "Later", "Email": email,
                                           "HasOptedOutOfEmail": True})
    time.sleep(0.05)
    run_differentials(synced)
    contact_id = synced.admin.insert("Contact", {"LastName": "Late", "Email": email})
    time.sleep(0.05)
    run_differentials(synced)
    run_writeback()
    assert synced.admin.get("Contact", contact_id)["HasOptedOutOfEmail"] is True
    assert synced.admin.get("Lead", lead_id)["HasOptedOutOfEmail"] is True
    _assert_quiet_cycle(synced)
