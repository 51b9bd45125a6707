"""A person archived with its last record comes back without the dead link of that record.

A person whose only record is deleted is archived and keeps that record's Id (history). When
a record of the other object brings the person back (a Lead undeleted, a Contact inserted with
the email), the dead record's link must not come back to life with it.

dag.test() of the differentials against PostgreSQL and the emulator over HTTPS."""

from __future__ import annotations

import time

import pytest

from tests.dags.test_lead_conversion import run_object
from tests.dags.test_writeback import synced  # noqa: F401  (a fixture)

LINK = {"Contact": "contact_sf_id", "Lead": "lead_sf_id"}
OTHER = {"Contact": "Lead", "Lead": "Contact"}


def _person(stack, email: str) -> list[dict]:
    return stack.marketing("SELECT lead_sf_id, contact_sf_id, archived_at IS NOT NULL AS archived"
                           " FROM people WHERE email = %s", email)


def _changed(stack, object_name: str, admin_call, *args) -> dict:
    admin_call(*args)
    time.sleep(0.05)
    return run_object(stack, object_name)


@pytest.mark.parametrize("revived_by", ["Lead", "Contact"])
def test_a_person_brought_back_by_one_record_drops_the_link_of_the_deleted_other(
        synced, assert_balanced, revived_by) -> None:  # noqa: F811
    dead = OTHER[revived_by]
    email = f"revived.by.{revived_by.lower()}.{int(time.time() * 1000)}@example.org"
    ids = {"Contact": synced.admin.insert("Contact", {"LastName": "Back", "Email": email}),
           "Lead": synced.admin.insert("Lead", {"LastName": "Back", "Company": "B", "Email": email})}
    time.sleep(0.05)
    run_object(synced, "Contact")
    run_object(synced, "Lead")
    assert _person(synced, email) == [{"lead_sf_id": ids["Lead"], "contact_sf_id": ids["Contact"],
                                       "archived": False}]

    # The reviving record leaves first (only its link goes), then the other one is deleted:
    # the person is archived, still naming that deleted record.
    assert_balanced(_changed(synced, revived_by, synced.admin.delete, revived_by, ids[revived_by]))
    assert_balanced(_changed(synced, dead, synced.admin.delete, dead, ids[dead]))
    person = _person(synced, email)
    assert [(p[LINK[dead]], p[LINK[revived_by]], p["archived"]) for p in person] == [(ids[dead], None, True)]

    # The first record comes back from the recycle bin and with it the person, without the
    # link of the record that is still deleted.
    run = _changed(synced, revived_by, synced.admin.undelete, revived_by, ids[revived_by])
    assert_balanced(run)
    assert run["updated"] == 1, run
    assert _person(synced, email) == [{LINK[revived_by]: ids[revived_by], LINK[dead]: None, "archived": False}]

    # Run again: nothing changes.
    for object_name in ("Contact", "Lead"):
        again = run_object(synced, object_name)
        assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), (object_name, again)
    assert _person(synced, email) == [{LINK[revived_by]: ids[revived_by], LINK[dead]: None, "archived": False}]
