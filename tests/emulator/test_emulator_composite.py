"""composite, composite/batch and sObject Collections through simple-salesforce's ``sf.restful``."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

V = "/services/data/v59.0"


def test_composite_references_and_query(sf, admin):
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Composite Co"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "person",
         "body": {"LastName": "Composite", "AccountId": "@{acct.id}", "Email": "composite@example.com"}},
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id,+AccountId+FROM+Contact+WHERE+Id+=+'@{{person.id}}'",
         "referenceId": "found"},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/@{{acct.id}}", "referenceId": "rename",
         "body": {"Website": "https://composite.example.com"}},
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Contact", "referenceId": "everyone"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [201, 201, 200, 204, 200]
    first_page = answer[4]["body"]
    assert first_page["done"] is False and len(first_page["records"]) == 2000
    rest = sf.query_more(first_page["nextRecordsUrl"], identifier_is_url=True)
    # the cursor holds what was committed before this request: everyone but the Contact created above
    assert len(first_page["records"]) + len(rest["records"]) == first_page["totalSize"] == admin.count("Contact") - 1
    account_id = answer[0]["body"]["id"]
    assert answer[0]["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{account_id}"
    assert answer[2]["body"]["records"][0]["AccountId"] == account_id
    assert admin.get("Account", account_id)["Website"] == "https://composite.example.com"


def test_composite_all_or_none_rolls_back(sf, admin):
    before = admin.count("Account")
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "ok", "body": {"Name": "Rolled back"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {"Email": "x@example.com"}},
        {"method": "GET", "url": f"{V}/sobjects/Contact/@{{bad.id}}", "referenceId": "after"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in answer] == [400, 400, 400]
    assert answer[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert answer[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert admin.count("Account") == before
    partial = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "ok", "body": {"Name": "Kept"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {"Email": "x@example.com"}},
        {"method": "GET", "url": f"{V}/sobjects/Contact/@{{bad.id}}", "referenceId": "after"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in partial] == [201, 400, 400]
    assert "No value for bad.id" in partial[2]["body"][0]["message"]
    assert admin.count("Account") == before + 1


def test_composite_batch(sf, admin):
    contact = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    answer = sf.restful("composite/batch", method="POST", json={"haltOnError": True, "batchRequests": [
        {"method": "GET", "url": f"v59.0/sobjects/Contact/{contact}?fields=Id,LastName"},
        {"method": "PATCH", "url": f"v59.0/sobjects/Contact/{contact}", "richInput": {"Title": "Batch title"}},
        {"method": "GET", "url": "v59.0/sobjects/Contact/003000000000000AAA"},
        {"method": "GET", "url": "v59.0/limits"},
    ]})
    assert answer["hasErrors"] is True
    assert [r["statusCode"] for r in answer["results"]] == [200, 204, 404, 412]
    assert answer["results"][0]["result"]["Id"] == contact
    assert admin.get("Contact", contact)["Title"] == "Batch title"


def test_collections_create_update_upsert_retrieve_delete(sf, admin):
    created = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "LastName": "Collection", "Company": "Coll Co"},
        {"attributes": {"type": "Lead"}, "LastName": "No company"},
        {"attributes": {"type": "Campaign"}, "Name": "Collection campaign"},
    ]})
    assert [r["success"] for r in created] == [True, False, True]
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and created[1]["id"] is None
    lead_id, campaign_id = created[0]["id"], created[2]["id"]
    member = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign_id, "LeadId": lead_id,
         "Status": "Responded"}]})[0]
    assert member["success"] and admin.get("CampaignMember", member["id"])["HasResponded"] is True

    updated = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": lead_id, "Title": "Updated by collection"},
        {"attributes": {"type": "Lead"}, "id": "00Q000000000000AAA", "Title": "x"}]})
    assert [r["success"] for r in updated] == [False, False]
    assert updated[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert admin.get("Lead", lead_id)["Title"] is None

    upserted = sf.restful("composite/sobjects/Account/External_Id__c", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "External_Id__c": "COLL-1", "Name": "Coll One"},
        {"attributes": {"type": "Account"}, "External_Id__c": "COLL-1", "Name": "Coll One again"}]})
    assert [(r["success"], r["created"]) for r in upserted] == [(True, True), (True, False)]

    fetched = sf.restful("composite/sobjects/Lead", params={"ids": f"{lead_id},00Q000000000000AAA",
                                                             "fields": "LastName,Company"})
    assert fetched[0]["LastName"] == "Collection" and fetched[1] is None
    assert list(fetched[0]) == ["attributes", "LastName", "Company"]

    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{lead_id},{upserted[0]['id']}"})
    assert all(r["success"] for r in deleted)
    assert admin.get("Lead", lead_id)["IsDeleted"] is True

    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="POST", json={"records": [
            {"attributes": {"type": "Lead"}, "LastName": f"L{n}", "Company": "C"} for n in range(201)]})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_activities_writable_through_rest_and_collections(sf, admin):
    contact = sf.query("SELECT Id FROM Contact WHERE IsDeleted = false LIMIT 1")["records"][0]["Id"]
    task = sf.Task.create({"Subject": "Call back", "WhoId": contact, "Status": "Completed",
                           "ActivityDate": "2024-05-01"})["id"]
    assert admin.get("Task", task)["IsClosed"] is True
    events = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Event"}, "Subject": "Demo", "WhoId": contact,
         "StartDateTime": "2024-05-02T10:00:00.000Z", "EndDateTime": "2024-05-02T11:30:00.000Z"},
        {"attributes": {"type": "Event"}, "Subject": "Bad", "WhoId": task,
         "StartDateTime": "2024-05-02T10:00:00.000Z", "EndDateTime": "2024-05-02T11:00:00.000Z"}]})
    assert events[0]["success"] and admin.get("Event", events[0]["id"])["DurationInMinutes"] == 90
    assert events[1]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    bounced = sf.Contact.update(contact, {"EmailBouncedDate": "2024-06-01T08:00:00Z",
                                          "EmailBouncedReason": "552 5.2.2 Mailbox full"})
    assert bounced == 204
    assert sf.Contact.get(contact)["EmailBouncedReason"] == "552 5.2.2 Mailbox full"
    rows = sf.query(f"SELECT Subject, WhoId FROM Task WHERE WhoId = '{contact}'")["records"]
    assert {"Subject": "Call back", "WhoId": contact} in [{k: r[k] for k in ("Subject", "WhoId")} for r in rows]
