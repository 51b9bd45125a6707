"""Salesforce merges: the loser's person is archived `merged`, its marketing-owned values go to
the master's person and, through the write-back, to the master in Salesforce.

dag.test() of the differentials and crm_writeback against PostgreSQL, the emulator over HTTPS
(whose admin API merges as Salesforce does) and Great Expectations."""

from __future__ import annotations

import time

from tests.dags.test_writeback import (  # noqa: F401  (synced is a fixture)
    edit,
    run_differentials,
    run_writeback,
    synced,
    writeback_runs,
)


def test_a_merged_contact_hands_its_score_and_opt_out_to_the_master(synced, assert_balanced) -> None:  # noqa: F811
    stamp = int(time.time() * 1000)
    master_id = synced.admin.insert("Contact", {"LastName": "Master", "Email": f"master.{stamp}@example.org"})
    loser_id = synced.admin.insert("Contact", {"LastName": "Loser", "Email": f"loser.{stamp}@example.org",
                                               "HasOptedOutOfEmail": True})
    time.sleep(0.05)
    run_differentials(synced)
    edit(synced, "UPDATE people SET lead_score = 70 WHERE contact_sf_id = %s", loser_id)
    edit(synced, "UPDATE people SET lead_score = 20 WHERE contact_sf_id = %s", master_id)
    run_writeback()
    assert synced.admin.get("Contact", loser_id)["Lead_Score__c"] == 70

    merged = synced.admin.merge("Contact", master_id, [loser_id])
    assert merged["mergedIds"] == [loser_id]
    time.sleep(0.05)
    run = run_differentials(synced)["Contact"]
    assert_balanced(run)
    people = {r["contact_sf_id"] or r["email"].split(".")[0]: r for r in synced.marketing(
        "SELECT email, contact_sf_id, lead_score, unsubscribed, archived_at, archive_reason, merged_into_sf_id"
        " FROM people WHERE email LIKE %s", f"%.{stamp}@example.org")}
    loser, master = people[loser_id], people[master_id]
    assert (loser["archive_reason"], loser["merged_into_sf_id"]) == ("merged", master_id)
    assert loser["archived_at"] is not None
    assert (master["lead_score"], master["unsubscribed"], master["archived_at"]) == (70, True, None)
    events = synced.warehouse("SELECT outcome FROM crm_sync.record_events WHERE run_id = %s AND sf_id = %s",
                              run["run_id"], loser_id)
    assert events == [{"outcome": "archived"}]

    # The write-back gives the master in Salesforce what it lacked.
    run_writeback()
    record = synced.admin.get("Contact", master_id)
    assert (record["Lead_Score__c"], record["HasOptedOutOfEmail"]) == (70, True)

    # A second cycle changes nothing, on either side.
    for object_name, again in run_differentials(synced).items():
        assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), (object_name, again)
    for object_name, again in writeback_runs(synced, run_writeback()).items():
        assert (again["extracted"], again["api_calls"]) == (0, 0), (object_name, again)
    assert synced.marketing("SELECT lead_score, unsubscribed FROM people WHERE contact_sf_id = %s", master_id) == [
        {"lead_score": 70, "unsubscribed": True}]


def test_a_merged_lead_is_archived_merged_without_carrying_over_a_higher_master_value(
        synced, assert_balanced) -> None:  # noqa: F811
    stamp = int(time.time() * 1000)
    master_id = synced.admin.insert("Lead", {"LastName": "Master", "Company": "M", "Email": f"lm.{stamp}@example.org"})
    loser_id = synced.admin.insert("Lead", {"LastName": "Loser", "Company": "L", "Email": f"ll.{stamp}@example.org"})
    time.sleep(0.05)
    run_differentials(synced)
    edit(synced, "UPDATE people SET lead_score = 5 WHERE lead_sf_id = %s", loser_id)
    edit(synced, "UPDATE people SET lead_score = 90 WHERE lead_sf_id = %s", master_id)
    run_writeback()
    synced.admin.merge("Lead", master_id, [loser_id])
    time.sleep(0.05)
    run = run_differentials(synced)["Lead"]
    assert_balanced(run)
    rows = {r["lead_sf_id"]: r for r in synced.marketing(
        "SELECT lead_sf_id, lead_score, archive_reason, merged_into_sf_id FROM people WHERE lead_sf_id = ANY(%s)",
        [master_id, loser_id])}
    assert (rows[loser_id]["archive_reason"], rows[loser_id]["merged_into_sf_id"]) == ("merged", master_id)
    assert rows[master_id]["lead_score"] == 90 and rows[master_id]["archive_reason"] is None
    # Nothing to carry: the master's higher score stays, and nothing is queued for Salesforce.
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_a_person_merged_away_then_brought_back_by_a_lead_forgets_its_master(synced, assert_balanced) -> None:  # noqa: F811
    stamp = int(time.time() * 1000)
    email = f"merged.back.{stamp}@example.org"
    master_id = synced.admin.insert("Contact", {"LastName": "Master", "Email": f"keeper.{stamp}@example.org"})
    loser_id = synced.admin.insert("Contact", {"LastName": "Loser", "Email": email})
    time.sleep(0.05)
    run_differentials(synced)
    synced.admin.merge("Contact", master_id, [loser_id])
    time.sleep(0.05)
    run_differentials(synced)
    assert synced.marketing("SELECT archive_reason, merged_into_sf_id FROM people WHERE email = %s", email) == [
        {"archive_reason": "merged", "merged_into_sf_id": master_id}]

    # A Lead with the merged-away email brings the person back: a live person of its own,
    # neither linked to the merged-away Contact nor pointing at its master.
    lead_id = synced.admin.insert("Lead", {"LastName": "Back", "Company": "B", "Email": email})
    time.sleep(0.05)
    assert_balanced(run_differentials(synced)["Lead"])
    assert synced.marketing(
        "SELECT lead_sf_id, contact_sf_id, archived_at, archive_reason, merged_into_sf_id FROM people"
        " WHERE email = %s", email) == [{"lead_sf_id": lead_id, "contact_sf_id": None, "archived_at": None,
                                         "archive_reason": None, "merged_into_sf_id": None}]
    for object_name, again in run_differentials(synced).items():
        assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), (object_name, again)
