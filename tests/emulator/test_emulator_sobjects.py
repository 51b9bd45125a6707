"""sObject rows over REST: create, read, update, upsert, delete, and the updated/deleted endpoints."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound


def test_create_read_update_delete(sf, admin):
    created = sf.Contact.create({"FirstName": "Zoë", "LastName": "Łukasz", "Email": "zoe@example.com",
                                 "Status__c": "2", "Lead_Score__c": 12.5, "HasOptedOutOfEmail": True})
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    record = sf.Contact.get(record_id)
    assert record["Name"] == "Zoë Łukasz"
    assert record["HasOptedOutOfEmail"] is True
    assert record["Lead_Score__c"] == 13.0  # Number(18, 0): rounded half up, as Salesforce stores it
    assert record["OwnerId"].startswith("005") and record["CreatedById"] == record["OwnerId"]
    assert record["CreatedDate"] == record["SystemModstamp"]
    assert sf.Contact.update(record_id, {"Title": "Chef", "Email": None}) == 204
    after = sf.Contact.get(record_id)
    assert after["Title"] == "Chef" and after["Email"] is None
    assert after["SystemModstamp"] >= record["SystemModstamp"]
    assert sf.Contact.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Contact.get(record_id)
    assert info.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert admin.get("Contact", record_id)["IsDeleted"] is True


def test_stamps_are_server_time_with_milliseconds(sf):
    before = datetime.now(UTC) - timedelta(seconds=1)
    record_id = sf.Lead.create({"LastName": "Stamp", "Company": "Clock Inc"})["id"]
    first = sf.Lead.get(record_id)["SystemModstamp"]
    parsed = datetime.strptime(first, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert before <= parsed <= datetime.now(UTC) + timedelta(seconds=1)
    assert len(first.split(".")[1]) == len("123+0000")
    time.sleep(0.01)
    sf.Lead.update(record_id, {"Title": "Later"})
    assert sf.Lead.get(record_id)["SystemModstamp"] > first


def test_get_with_fields_and_by_external_id(sf, admin):
    account_id = admin.insert("Account", {"Name": "Extern", "External_Id__c": "EXT-TEST-0001"})
    by_ext = sf.Account.get_by_custom_id("External_Id__c", "EXT-TEST-0001")
    assert by_ext["Id"] == account_id and by_ext["Name"] == "Extern"
    assert by_ext["BillingAddress"] is None
    only = sf.restful(f"sobjects/Account/{account_id}", params={"fields": "Name,External_Id__c"})
    assert set(only) == {"attributes", "Name", "External_Id__c"}


def test_upsert_by_external_id(sf, admin):
    status = sf.Account.upsert("External_Id__c/NEW UPSERT 1", {"Name": "Upserted"})
    assert status == 201
    record_id = sf.Account.get_by_custom_id("External_Id__c", "NEW UPSERT 1")["Id"]
    assert sf.Account.upsert("External_Id__c/NEW UPSERT 1", {"Name": "Upserted again"}) == 200
    assert admin.get("Account", record_id)["Name"] == "Upserted again"
    assert admin.count("Account") == sf.query("SELECT COUNT() FROM Account")["totalSize"]


@pytest.mark.parametrize("obj,payload,code,fields", [
    ("Contact", {"FirstName": "NoLast"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ("Contact", {"LastName": "X", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
    ("Contact", {"LastName": "X", "Email": "a b@x.com"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ("Contact", {"LastName": "X", "Title": "t" * 129}, "STRING_TOO_LONG", ["Title"]),
    ("Contact", {"LastName": "X", "Status__c": "5"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status__c"]),
    ("Contact", {"LastName": "X", "Name": "Computed"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Name"]),
    ("Contact", {"LastName": "X", "AccountId": "not-an-id"}, "MALFORMED_ID", ["AccountId"]),
    ("Opportunity", {"Name": "Deal", "StageName": "Prospecting"}, "REQUIRED_FIELD_MISSING", ["CloseDate"]),
])
def test_create_errors(sf, obj, payload, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as info:
        getattr(sf, obj).create(payload)
    assert info.value.status == 400
    assert info.value.content[0]["errorCode"] == code
    assert info.value.content[0]["fields"] == fields


def test_duplicate_external_id(sf, admin):
    admin.insert("Account", {"Name": "One", "External_Id__c": "EXT-DUP"})
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "Two", "External_Id__c": "EXT-DUP"})
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_update_missing_and_converted(sf, admin):
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.update("0038d00000zzzzzAAA", {"Title": "x"})
    lead_id = admin.insert("Lead", {"LastName": "Convert", "Company": "C Corp", "Email": "convert.me@example.com"})
    converted = admin.convert_lead(lead_id)
    lead = admin.get("Lead", lead_id)
    assert lead["IsConverted"] is True and lead["Status"] == "Closed - Converted"
    assert lead["ConvertedContactId"] == converted["contactId"]
    assert admin.get("Contact", converted["contactId"])["Email"] == "convert.me@example.com"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.update(lead_id, {"Title": "too late"})
    assert info.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_opportunity_stage_drives_closed_flags(sf):
    record_id = sf.Opportunity.create({"Name": "Flags", "StageName": "Prospecting", "CloseDate": "2030-01-31"})["id"]
    record = sf.Opportunity.get(record_id)
    assert (record["IsClosed"], record["IsWon"], record["Probability"]) == (False, False, 10)
    sf.Opportunity.update(record_id, {"StageName": "Closed Won"})
    record = sf.Opportunity.get(record_id)
    assert (record["IsClosed"], record["IsWon"], record["Probability"]) == (True, True, 100)


def test_updated_and_deleted_endpoints(fresh, connect):
    handle = fresh(records=200, seed=5)
    admin, sf = handle.admin(), connect(handle)
    admin.set_clock_offset(-180)  # these writes happen "three minutes ago", inside a covered minute
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    admin.set_clock_offset(0)
    too_new = sf.Contact.create({"LastName": "Too new"})["id"]  # after latestDateCovered: not reported yet
    start = datetime.now(UTC) - timedelta(minutes=10)
    end = datetime.now(UTC) + timedelta(minutes=5)
    updated = sf.Contact.updated(start, end)
    assert kept in updated["ids"] and gone not in updated["ids"] and too_new not in updated["ids"]
    covered = updated["latestDateCovered"]
    assert covered.endswith(":00.000+0000")
    assert covered <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert sf.Contact.get(too_new)["SystemModstamp"] >= covered
    deleted = sf.Contact.deleted(start, end)
    dates = {r["id"]: r["deletedDate"] for r in deleted["deletedRecords"]}
    assert gone in dates and kept not in dates
    assert dates[gone].endswith("+0000")
    assert deleted["earliestDateAvailable"] <= dates[gone]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.updated(end, start)
    assert info.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.updated(datetime.now(UTC) - timedelta(days=31), datetime.now(UTC))
    assert info.value.content[0] == {"message": "startDate cannot be more than 30 days ago",
                                     "errorCode": "INVALID_REPLICATION_DATE"}
