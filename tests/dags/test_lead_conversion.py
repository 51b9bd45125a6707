"""A converted Lead hands its person to its Contact, unless that Contact is already gone.

dag.test() of the differentials against PostgreSQL and the emulator over HTTPS."""

from __future__ import annotations

import time

from airflow.utils.state import DagRunState

from tests.dags.test_writeback import synced  # noqa: F401  (a fixture)


def _person(stack, email: str) -> list[dict]:
    return stack.marketing("SELECT lead_sf_id, contact_sf_id, archived_at IS NOT NULL AS archived, archive_reason"
                           " FROM people WHERE email = %s", email)


def run_object(stack, object_name: str) -> dict:
    """Run the object's differential DAG (it must succeed); returns its sync log row."""
    assert stack.run_dag(f"crm_differential_{object_name.lower()}").state == DagRunState.SUCCESS
    return stack.last_run(object_name)


def test_a_lead_converted_into_a_contact_deleted_before_the_lead_loads_is_not_handed_over(
        synced, assert_balanced) -> None:  # noqa: F811
    email = f"convert.gone.{int(time.time() * 1000)}@example.org"
    lead_id = synced.admin.insert("Lead", {"LastName": "Gone", "Company": "G", "Email": email})
    time.sleep(0.05)
    run_object(synced, "Lead")
    assert _person(synced, email) == [{"lead_sf_id": lead_id, "contact_sf_id": None, "archived": False,
                                       "archive_reason": None}]

    # Converted, and its new Contact deleted, before the next runs: the Contact's run sees only
    # a deletion it has nothing to archive for; the Lead's run then sees the conversion.
    contact_id = synced.admin.convert_lead(lead_id)["contactId"]
    synced.admin.delete("Contact", contact_id)
    time.sleep(0.05)
    assert_balanced(run_object(synced, "Contact"))
    assert_balanced(run_object(synced, "Lead"))
    person = _person(synced, email)
    assert [(p["contact_sf_id"], p["archived"]) for p in person] == [(None, True)], person
    assert person[0]["archive_reason"] == "Lead converted into a Contact since deleted in Salesforce"

    # The Contact comes back from the recycle bin: its person comes back with it.
    synced.admin.undelete("Contact", contact_id)
    time.sleep(0.05)
    assert_balanced(run_object(synced, "Contact"))
    assert [(p["contact_sf_id"], p["archived"]) for p in _person(synced, email)] == [(contact_id, False)]

    # Run again: nothing changes.
    for object_name in ("Contact", "Lead"):
        again = run_object(synced, object_name)
        assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), (object_name, again)


def test_a_lead_converted_into_a_new_contact_leaves_a_person_that_has_another_contact(
        synced, assert_balanced) -> None:  # noqa: F811
    email = f"convert.other.{int(time.time() * 1000)}@example.org"
    lead_id = synced.admin.insert("Lead", {"LastName": "Twice", "Company": "T", "Email": email})
    contact_id = synced.admin.insert("Contact", {"LastName": "Twice", "Email": email})
    time.sleep(0.05)
    run_object(synced, "Contact")
    run_object(synced, "Lead")
    assert [(p["lead_sf_id"], p["contact_sf_id"]) for p in _person(synced, email)] == [(lead_id, contact_id)]

    # Converted into a new Contact (a second one with the same email, which the person's
    # Contact keeps): the converted Lead no longer belongs to the person.
    new_contact = synced.admin.convert_lead(lead_id)["contactId"]
    assert new_contact != contact_id
    time.sleep(0.05)
    assert_balanced(run_object(synced, "Contact"))
    assert_balanced(run_object(synced, "Lead"))
    assert [(p["lead_sf_id"], p["contact_sf_id"], p["archived"]) for p in _person(synced, email)] == [
        (None, contact_id, False)]
    for object_name in ("Contact", "Lead"):
        again = run_object(synced, object_name)
        assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), (object_name, again)
