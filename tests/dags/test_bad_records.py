"""One bad record never stops an object: it is quarantined, once, naming record and field.

The bad records are planted in the emulator verbatim (``admin.plant``), as a real org may
hold them; each test plants its own, with Ids no other test uses. The emulator normalises
15-character Id literals in SOQL, so planted records are looked up by other fields.
"""

from __future__ import annotations

import uuid

import pytest
from airflow.utils.state import DagRunState

from crm_sync.salesforce.ids import checksum

METHODS = ["rest", "bulk"]


def _tag() -> str:
    return uuid.uuid4().hex[:12].upper()


def _force(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the differentials extract through REST, or through Bulk API 2.0."""
    monkeypatch.setenv("CRM_SYNC_BULK_THRESHOLD", "1" if method == "bulk" else "1000000")


def _open_quarantine(sync_stack, object_name: str, field: str, value: str) -> list[dict]:
    return sync_stack.warehouse(
        "SELECT * FROM crm_quarantine.records WHERE object = %s AND status = 'open' AND payload ->> %s = %s"
        " ORDER BY quarantine_id", object_name, field, value)


@pytest.mark.parametrize("method", METHODS)
def test_records_with_malformed_ids_are_quarantined_and_the_rest_loads(sync_stack, monkeypatch, assert_balanced,
                                                                       method) -> None:
    _force(method, monkeypatch)
    tag = _tag()
    lead_id = f"00Q{tag}"  # 15 characters
    campaign_id = f"701{tag}AB"  # 17 characters
    other = f"00Q{_tag()}"
    bad_checksum_id = other + ("AAA" if checksum(other) != "AAA" else "BBB")  # 18 characters, wrong suffix
    admin = sync_stack.admin
    admin.plant("Lead", {"Id": lead_id, "LastName": f"Short {tag}", "Company": "Planted",
                         "Email": f"short-{tag.lower()}@example.com"})
    admin.plant("Lead", {"Id": bad_checksum_id, "LastName": f"Checksum {tag}", "Company": "Planted",
                         "Email": f"checksum-{tag.lower()}@example.com"})
    admin.plant("Lead", {"LastName": f"Converted {tag}", "Company": "Planted", "IsConverted": True,
                         "ConvertedContactId": f"003{tag}", "Email": f"converted-{tag.lower()}@example.com"})
    admin.plant("Campaign", {"Id": campaign_id, "Name": f"Seventeen {tag}"})
    admin.plant("Campaign", {"Id": None, "Name": f"No Id {tag}"})

    for dag_id, object_name in (("crm_differential_lead", "Lead"), ("crm_differential_campaign", "Campaign")):
        dag_run = sync_stack.run_dag(dag_id)
        assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
        run = sync_stack.last_run(object_name)
        assert run["status"] == "succeeded" and run["extract_method"] == method
        assert_balanced(run)
        assert run["extracted"] == admin.count(object_name, include_deleted=True)
        assert run["created"] > 0 and run["quarantined"] >= 1

    short = _open_quarantine(sync_stack, "Lead", "LastName", f"Short {tag}")
    assert [(q["sf_id"], q["reasons"]) for q in short] == [
        (lead_id, [f"Id: '{lead_id}' is not an 18-character Salesforce Id"])]
    bad_sum = _open_quarantine(sync_stack, "Lead", "LastName", f"Checksum {tag}")
    assert [(q["sf_id"], q["reasons"]) for q in bad_sum] == [
        (bad_checksum_id, [f"Id: '{bad_checksum_id}' fails the Salesforce Id checksum"])]
    converted = _open_quarantine(sync_stack, "Lead", "LastName", f"Converted {tag}")
    assert [q["reasons"] for q in converted] == [
        [f"converted_contact_id: '003{tag}' is not an 18-character Salesforce Id"]]
    campaign = _open_quarantine(sync_stack, "Campaign", "Name", f"Seventeen {tag}")
    assert [(q["sf_id"], q["reasons"]) for q in campaign] == [
        (campaign_id, [f"Id: '{campaign_id}' is not an 18-character Salesforce Id"])]
    no_id = _open_quarantine(sync_stack, "Campaign", "Name", f"No Id {tag}")
    assert [(q["sf_id"], q["reasons"], q["payload"]["Id"]) for q in no_id] == [("", ["Id: missing"], None)]

    # None of them reached marketing; everything else did.
    planted = sync_stack.marketing("SELECT count(*) AS n FROM people WHERE email LIKE %s", f"%-{tag.lower()}@%")
    assert planted == [{"n": 0}]
    assert sync_stack.marketing("SELECT count(*) AS n FROM campaigns WHERE name = %s", f"Seventeen {tag}") == [{"n": 0}]
    loaded = sync_stack.marketing("SELECT count(*) AS n FROM campaigns")[0]["n"]
    assert loaded == sync_stack.last_run("Campaign")["created"]


@pytest.mark.parametrize("method", METHODS)
def test_nul_characters_are_removed_and_the_record_loads(sync_stack, monkeypatch, assert_balanced, method) -> None:
    _force(method, monkeypatch)
    tag = _tag()
    email = f"nul-{tag.lower()}@example.com"
    contact_id = sync_stack.admin.plant("Contact", {
        "LastName": f"\x00Nul{tag}\x00", "Email": email, "Title": "Chief\x00Officer",
        "MailingCity": "Tab\there\x01"})
    try:
        dag_run = sync_stack.run_dag("crm_differential_contact")
        assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
        run = sync_stack.last_run("Contact")
        assert run["extract_method"] == method
        assert_balanced(run)
        people = sync_stack.marketing("SELECT contact_sf_id, last_name, title, city FROM people WHERE email = %s",
                                      email)
        assert people == [{"contact_sf_id": contact_id, "last_name": f"Nul{tag}", "title": "ChiefOfficer",
                           "city": "Tab\there\x01"}]  # other control characters are kept
        staged = sync_stack.warehouse("SELECT payload ->> 'Title' AS title FROM crm_staging.records"
                                      " WHERE run_id = %s AND sf_id = %s", run["run_id"], contact_id)
        assert staged == [{"title": "ChiefOfficer"}]
    finally:
        sync_stack.admin.purge("Contact", contact_id)


def test_a_record_is_quarantined_once_per_reason_and_settled_when_it_loads(sync_stack, assert_balanced) -> None:
    tag = _tag()
    admin = sync_stack.admin
    lead_id = admin.plant("Lead", {"LastName": f"Once {tag}", "Company": "Planted", "Email": f"not-an-email-{tag}"})

    def quarantined() -> list[dict]:
        return sync_stack.warehouse("SELECT * FROM crm_quarantine.records WHERE sf_id = %s ORDER BY quarantine_id",
                                    lead_id)

    runs = []
    for _ in range(2):  # full syncs re-read every record (through Bulk)
        dag_run = sync_stack.run_dag("crm_full_sync", objects=["Lead"], mode="upsert", dry_run=False)
        assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
        runs.append(sync_stack.last_run("Lead"))
        assert_balanced(runs[-1])
    (row,) = quarantined()
    assert row["status"] == "open" and row["reasons"] == ["email: not a valid email address"]
    assert row["run_id"] == runs[1]["run_id"] and row["last_seen_at"] > row["quarantined_at"]
    assert runs[0]["quarantined"] == runs[1]["quarantined"] > 0
    assert sync_stack.warehouse("SELECT count(*) AS n FROM crm_quarantine.records WHERE status = 'open'") == [
        {"n": runs[1]["quarantined"]}]  # one open row per record: the second sync added none

    # Another reason too: a row of its own; the first stays open until the record loads.
    admin.update("Lead", lead_id, {"Title": "t" * 120})
    assert sync_stack.run_dag("crm_differential_lead").state == DagRunState.SUCCESS
    assert [(q["status"], q["reasons"]) for q in quarantined()] == [
        ("open", ["email: not a valid email address"]),
        ("open", ["email: not a valid email address", "title: longer than 100 characters"])]

    admin.update("Lead", lead_id, {"Title": "CTO", "Email": f"once-{tag.lower()}@example.com"})
    assert sync_stack.run_dag("crm_differential_lead").state == DagRunState.SUCCESS
    assert [q["status"] for q in quarantined()] == ["superseded", "superseded"]
    assert sync_stack.marketing("SELECT lead_sf_id FROM people WHERE email = %s",
                                f"once-{tag.lower()}@example.com") == [{"lead_sf_id": lead_id}]
