"""Campaigns both ways, end to end: Campaign fields by their direction, CampaignMembers to the
marketing side's list membership (linked to the person) and back, through dag.test() of the
differentials and crm_writeback against PostgreSQL and the emulator over HTTPS. Every sync
runs twice: the second changes nothing."""

from __future__ import annotations

import importlib
import time
import uuid
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState

PEOPLE_OBJECTS = ("Contact", "Lead")


def sync(stack, object_name: str) -> dict[str, Any]:
    """One differential of the object; returns its sync log row (balanced, succeeded)."""
    assert stack.run_dag(f"crm_differential_{object_name.lower()}").state == DagRunState.SUCCESS, object_name
    run = last_differential(stack, object_name)
    published = run["created"] + run["updated"] + run["archived"] + run["unchanged"]
    assert run["extracted"] == published + run["quarantined"] + run["skipped"], run
    assert run["status"] == "succeeded", run
    return run


def last_differential(stack, object_name: str) -> dict[str, Any]:
    """The object's latest differential run (not the repair runs it may start, nor write-backs)."""
    return stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE object = %s AND kind = 'differential'"
                           " ORDER BY run_id DESC LIMIT 1", object_name)[0]


def sync_twice(stack, object_name: str) -> dict[str, Any]:
    """A differential, then another that must change nothing; returns the first's sync log row."""
    first = sync(stack, object_name)
    again = sync(stack, object_name)
    assert (again["created"], again["updated"], again["archived"]) == (0, 0, 0), again
    return first


def writeback(stack) -> tuple[Any, list[dict[str, Any]]]:
    """`dag.test()` of crm_writeback; returns the DagRun and its per-record results."""
    import crm_writeback

    dag_run = importlib.reload(crm_writeback).crm_writeback.test()
    assert dag_run.state == DagRunState.SUCCESS
    rows = stack.warehouse(
        "SELECT r.* FROM crm_sync.writeback_results r JOIN crm_sync.sync_runs s USING (run_id)"
        " WHERE s.dag_run_id = %s ORDER BY r.result_id", dag_run.run_id)
    return dag_run, rows


def writeback_twice(stack) -> list[dict[str, Any]]:
    """A write-back, then another that writes nothing; returns the first's results."""
    _, rows = writeback(stack)
    _, again = writeback(stack)
    assert [r for r in again if r["outcome"] in ("created", "updated")] == [], again
    assert stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    return rows


def edit(stack, query: str, *params: Any) -> list[tuple]:
    """A marketing-side edit, as the marketing app makes it (no sync origin), committed."""
    with psycopg.connect(stack.databases.marketing) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def member(stack, sf_id: str) -> dict[str, Any]:
    """The marketing row of a CampaignMember."""
    [row] = stack.marketing("SELECT * FROM campaign_members WHERE sf_id = %s", sf_id)
    return row


@pytest.fixture
def synced(sync_stack, monkeypatch) -> Any:
    """People, Campaigns and CampaignMembers imported, the import's own write-back settled.

    Adds a fresh Contact (and its person) for the test to put into campaigns.
    """
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.01")
    email = f"member-{uuid.uuid4().hex[:10]}@example.com"
    sync_stack.contact_id = sync_stack.admin.insert("Contact", {"LastName": "Member", "Email": email})
    for object_name in (*PEOPLE_OBJECTS, "Campaign", "CampaignMember"):
        sync(sync_stack, object_name)
    writeback(sync_stack)  # the import's opt-outs reaching every record of their person
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    [person] = sync_stack.marketing("SELECT id FROM people WHERE contact_sf_id = %s", sync_stack.contact_id)
    sync_stack.person_id = person["id"]
    sync_stack.campaign_ids = [r["sf_id"] for r in sync_stack.marketing(
        "SELECT sf_id FROM campaigns WHERE archived_at IS NULL ORDER BY sf_id LIMIT 3")]
    return sync_stack


def test_the_import_links_every_member_to_its_person_or_says_why_not(synced) -> None:
    run = last_differential(synced, "CampaignMember")
    assert run["created"] > 0
    # (members deleted before they were ever synced are skipped too: the shared org has some)
    assert set(run["skipped_reasons"]) <= {"unknown_person:ContactId", "unknown_person:LeadId",
                                           "deleted_not_in_marketing"}, run
    unlinked = synced.marketing("SELECT count(*) AS n FROM campaign_members WHERE person_id IS NULL")
    assert unlinked == [{"n": 0}]
    # A member's person is the one holding its Contact, else its Lead.
    wrong = synced.marketing(
        "SELECT m.sf_id FROM campaign_members m JOIN people p ON p.id = m.person_id"
        " WHERE NOT (p.contact_sf_id IS NOT DISTINCT FROM m.contact_sf_id"
        "            OR (m.contact_sf_id IS NULL AND p.lead_sf_id = m.lead_sf_id))")
    assert wrong == []
    # Each skipped member is listed by Id with the field naming its missing person.
    skipped = synced.warehouse("SELECT sf_id, reason FROM crm_sync.skipped WHERE run_id = %s", run["run_id"])
    assert len(skipped) == run["skipped"] and all(s["sf_id"].startswith("00v") for s in skipped)


def test_members_added_changed_and_deleted_in_salesforce(synced) -> None:
    campaign = synced.campaign_ids[0]
    sf_id = synced.admin.insert("CampaignMember", {"CampaignId": campaign, "ContactId": synced.contact_id,
                                                   "Status": "Sent"})
    time.sleep(0.05)
    run = sync_twice(synced, "CampaignMember")
    assert run["created"] == 1
    row = member(synced, sf_id)
    assert (row["campaign_sf_id"], row["person_id"], row["status"], row["has_responded"]) == (
        campaign, synced.person_id, "Sent", False)

    synced.admin.update("CampaignMember", sf_id, {"Status": "Responded"})
    time.sleep(0.05)
    assert sync_twice(synced, "CampaignMember")["updated"] == 1
    row = member(synced, sf_id)
    assert (row["status"], row["has_responded"]) == ("Responded", True)

    synced.admin.delete("CampaignMember", sf_id)
    time.sleep(0.05)
    assert sync_twice(synced, "CampaignMember")["archived"] == 1
    row = member(synced, sf_id)
    assert row["archived_at"] is not None and row["archive_reason"] == "CampaignMember deleted in Salesforce"
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]  # nothing to echo


def test_a_member_of_an_unknown_person_is_skipped_then_loaded_once_the_person_is(synced, monkeypatch) -> None:
    monkeypatch.setenv("CRM_SYNC_LOOKBACK_SECONDS", "0")  # no re-read by the overlap: only re-evaluation
    contact = synced.admin.insert("Contact", {"LastName": "No Email Yet"})
    sf_id = synced.admin.insert("CampaignMember", {"CampaignId": synced.campaign_ids[1], "ContactId": contact})
    time.sleep(0.05)
    run = sync_twice(synced, "CampaignMember")
    assert run["skipped_reasons"] == {"unknown_person:ContactId": 1}
    assert synced.warehouse("SELECT reason FROM crm_sync.skipped WHERE run_id = %s AND sf_id = %s",
                            run["run_id"], sf_id) == [{"reason": "unknown_person:ContactId"}]
    assert synced.marketing("SELECT * FROM campaign_members WHERE sf_id = %s", sf_id) == []

    synced.admin.update("Contact", contact, {"Email": f"found-{uuid.uuid4().hex[:10]}@example.com"})
    time.sleep(0.05)
    assert sync(synced, "Contact")["created"] == 1
    # The member did not change: the next member run re-reads it because its person exists now.
    after = sync_twice(synced, "CampaignMember")
    assert after["extracted"] == 0
    assert (after["report"]["reevaluated"]["resynced"], after["report"]["reevaluated"]["repair_created"]) == (
        1, 1), after["report"]
    [person] = synced.marketing("SELECT id FROM people WHERE contact_sf_id = %s", contact)
    assert member(synced, sf_id)["person_id"] == person["id"]


def test_a_member_added_and_responding_in_marketing_reaches_salesforce(synced) -> None:
    campaign = synced.campaign_ids[2]
    [(row_id,)] = edit(synced, "INSERT INTO campaign_members (campaign_sf_id, person_id, status)"
                               " VALUES (%s, %s, 'Sent') RETURNING id", campaign, synced.person_id)
    before = synced.admin.count("CampaignMember")
    results = writeback_twice(synced)
    assert [(r["object"], r["outcome"]) for r in results] == [("CampaignMember", "created")], results
    [row] = synced.marketing("SELECT * FROM campaign_members WHERE id = %s", row_id)
    record = synced.admin.get("CampaignMember", row["sf_id"])
    assert (record["CampaignId"], record["ContactId"], record["Status"]) == (campaign, synced.contact_id, "Sent")
    assert synced.admin.count("CampaignMember") == before + 1
    assert (row["contact_sf_id"], row["has_responded"]) == (synced.contact_id, False)  # read back
    assert sync_twice(synced, "CampaignMember")["updated"] == 0  # the differential finds it as it is

    edit(synced, "UPDATE campaign_members SET status = 'Responded' WHERE id = %s", row_id)
    results = writeback_twice(synced)
    assert [(r["outcome"], r["written"]) for r in results] == [("updated", ["Status"])], results
    record = synced.admin.get("CampaignMember", row["sf_id"])
    assert (record["Status"], record["HasResponded"]) == ("Responded", True)
    assert member(synced, row["sf_id"])["has_responded"] is True  # Salesforce's derived value, read back
    time.sleep(0.05)
    assert sync_twice(synced, "CampaignMember")["updated"] == 0


def test_a_retried_member_write_never_doubles_the_member(synced) -> None:
    campaign = synced.campaign_ids[0]
    # An earlier attempt created the member in Salesforce, then lost its answer: the marketing
    # row has no sf_id yet.
    made = synced.admin.insert("CampaignMember", {"CampaignId": campaign, "ContactId": synced.contact_id,
                                                  "Status": "Sent"})
    [(row_id,)] = edit(synced, "INSERT INTO campaign_members (campaign_sf_id, person_id, status)"
                               " VALUES (%s, %s, 'Sent') RETURNING id", campaign, synced.person_id)
    before = synced.admin.count("CampaignMember")
    results = writeback_twice(synced)
    assert synced.admin.count("CampaignMember") == before
    assert [(r["sf_id"], r["outcome"]) for r in results] == [(made, "unchanged")], results
    assert synced.marketing("SELECT sf_id FROM campaign_members WHERE id = %s", row_id) == [{"sf_id": made}]
    assert sync_twice(synced, "CampaignMember")["created"] == 0  # the same member, not a second row


def test_campaign_fields_sync_in_the_direction_their_mapping_says(synced) -> None:
    campaign = synced.campaign_ids[0]
    synced.admin.update("Campaign", campaign, {"Marketing_Channel__c": "Webinar"})
    time.sleep(0.05)
    assert sync_twice(synced, "Campaign")["updated"] == 1
    assert synced.marketing("SELECT marketing_channel FROM campaigns WHERE sf_id = %s", campaign) == [
        {"marketing_channel": "Webinar"}]

    edit(synced, "UPDATE campaigns SET emails_sent = 1234 WHERE sf_id = %s", campaign)
    results = writeback_twice(synced)
    assert [(r["object"], r["sf_id"], r["outcome"], r["written"]) for r in results] == [
        ("Campaign", campaign, "updated", ["Emails_Sent__c"])], results
    assert synced.admin.get("Campaign", campaign)["Emails_Sent__c"] == 1234
    time.sleep(0.05)
    assert sync_twice(synced, "Campaign")["updated"] == 0  # the write-back's change comes back unchanged
    assert synced.marketing("SELECT emails_sent FROM campaigns WHERE sf_id = %s", campaign) == [
        {"emails_sent": 1234}]


def test_the_demo_showcase_shows_members_flowing_both_ways(synced, capsys) -> None:
    from devstack.showcase_campaigns import show

    show(synced.admin)
    out = capsys.readouterr().out
    assert "Campaign members in marketing" in out and "The same members in Salesforce" in out
    shown = [line.split() for line in out.splitlines() if line.strip().startswith("00v")]
    assert len(shown) == 4  # two members, each on both sides
    assert {row[-2:][0] for row in shown} == {"Sent", "Responded"}
