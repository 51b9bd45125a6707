"""Discovery: versions, resources, limits, global and sObject describe."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

SAFE_TYPES = {"id", "string", "textarea", "picklist", "multipicklist", "reference", "email", "phone", "url",
              "boolean", "int", "double", "currency", "percent", "date", "datetime", "time", "base64", "address",
              "location", "anyType", "combobox", "encryptedstring"}
OBJECTS = {"Account", "AssignmentRule", "Campaign", "CampaignMember", "Case", "Contact", "Event", "Group", "Lead",
           "Marketing_Activity__c", "Opportunity", "Organization", "QueueSobject", "Subscription__c", "Task", "User"}


def test_versions_and_resources(emulator, sf):
    versions = requests.get(f"{emulator.url}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    resources = sf.restful("")
    assert resources["query"] == "/services/data/v59.0/query"


def test_global_describe(sf):
    body = sf.describe()
    assert {o["name"] for o in body["sobjects"]} == OBJECTS
    contact = next(o for o in body["sobjects"] if o["name"] == "Contact")
    assert contact["keyPrefix"] == "003" and contact["queryable"] and not contact["customSetting"]
    assert contact["urls"]["describe"] == "/services/data/v59.0/sobjects/Contact/describe"
    custom = next(o for o in body["sobjects"] if o["name"] == "Subscription__c")
    assert custom["custom"] is True


@pytest.mark.parametrize("obj", sorted(OBJECTS))
def test_every_object_has_system_fields_and_safe_types(sf, obj):
    fields = {f["name"]: f for f in getattr(sf, obj).describe()["fields"]}
    assert {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
            "SystemModstamp"} <= set(fields)
    assert fields["SystemModstamp"]["type"] == "datetime"
    assert all(f["type"] in SAFE_TYPES for f in fields.values())
    assert ("OwnerId" in fields) == (obj not in ("User", "CampaignMember", "Organization", "Group", "QueueSobject",
                                                 "AssignmentRule"))


def test_contract_field_names(sf):
    expected = {
        "Account": {"Name", "Type", "Industry", "Website", "Phone", "AnnualRevenue", "NumberOfEmployees",
                    "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
                    "BillingAddress", "External_Id__c", "OwnerId"},
        "Contact": {"AccountId", "FirstName", "LastName", "Name", "Email", "Phone", "Title", "MailingCity",
                    "MailingCountry", "LeadSource", "HasOptedOutOfEmail", "Status__c", "Lead_Score__c",
                    "Last_Visit__c", "OwnerId"},
        "Lead": {"FirstName", "LastName", "Company", "Email", "Phone", "Title", "Status", "Status__c", "LeadSource",
                 "Industry", "HasOptedOutOfEmail", "Lead_Score__c", "Last_Visit__c", "IsConverted",
                 "ConvertedContactId", "ConvertedAccountId", "ConvertedDate", "OwnerId"},
        "Opportunity": {"Name", "AccountId", "StageName", "Amount", "CloseDate", "Probability", "Type", "LeadSource",
                        "IsClosed", "IsWon", "CampaignId", "OwnerId"},
        "Campaign": {"Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost", "ActualCost",
                     "ParentId", "OwnerId"},
        "CampaignMember": {"CampaignId", "LeadId", "ContactId", "Status", "HasResponded"},
        "Subscription__c": {"Name", "Contact__c", "Plan__c", "Status__c", "Start_Date__c", "Amount__c"},
        "User": {"Username", "Email", "FirstName", "LastName", "Name", "IsActive", "Title"},
    }
    for obj, names in expected.items():
        described = {f["name"] for f in getattr(sf, obj).describe()["fields"]}
        assert names <= described, (obj, names - described)


def test_contact_field_metadata(sf):
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert (fields["FirstName"]["type"], fields["FirstName"]["length"]) == ("string", 40)
    assert (fields["LastName"]["length"], fields["LastName"]["nillable"]) == (80, False)
    assert (fields["Email"]["type"], fields["Email"]["length"]) == ("email", 80)
    assert fields["Title"]["length"] == 128
    assert fields["Name"]["calculated"] is True and fields["Name"]["createable"] is False
    assert fields["HasOptedOutOfEmail"]["type"] == "boolean"
    assert fields["Lead_Score__c"]["type"] == "double" and fields["Lead_Score__c"]["custom"] is True
    assert fields["Last_Visit__c"]["type"] == "datetime"
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    status = fields["Status__c"]
    assert status["type"] == "picklist" and status["restrictedPicklist"] is True
    assert [(p["value"], p["active"]) for p in status["picklistValues"]] == [
        ("1", True), ("2", True), ("3", True), ("4", True), ("5", False)]
    assert fields["MailingCity"]["compoundFieldName"] == "MailingAddress"


def test_account_external_id_and_address(sf):
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    ext = fields["External_Id__c"]
    assert (ext["externalId"], ext["unique"], ext["length"], ext["type"]) == (True, True, 40, "string")
    assert fields["BillingAddress"]["type"] == "address"
    assert fields["BillingStreet"]["compoundFieldName"] == "BillingAddress"
    assert fields["AnnualRevenue"]["type"] == "currency"
    assert fields["NumberOfEmployees"]["type"] == "int"
    assert fields["Website"]["type"] == "url" and fields["Phone"]["type"] == "phone"


def test_lead_and_subscription_picklists(sf):
    lead = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert [p["value"] for p in lead["Status"]["picklistValues"]] == [
        "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
    sub = {f["name"]: f for f in sf.Subscription__c.describe()["fields"]}
    assert [p["value"] for p in sub["Plan__c"]["picklistValues"]] == ["Free", "Pro", "Enterprise"]
    assert sub["Contact__c"]["referenceTo"] == ["Contact"] and sub["Contact__c"]["relationshipName"] == "Contact__r"
    assert sub["Name"]["autoNumber"] is True


def test_unknown_object_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Widget__c.describe()
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


def test_unknown_path_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.restful("nosuch/thing")
    assert info.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_limits(sf):
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 5_000_000
    assert 0 < limits["DailyApiRequests"]["Remaining"] < 5_000_000
    assert {"Max", "Remaining"} <= set(limits["DailyBulkApiBatches"])
    again = sf.limits()
    assert again["DailyApiRequests"]["Remaining"] == limits["DailyApiRequests"]["Remaining"] - 1
