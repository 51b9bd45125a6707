"""SOSL search, the SOQL additions (FIELDS(), semi-/anti-joins, GROUP BY), Organization and the identity service."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest


def test_sosl_find_returning(sf):
    person = sf.query("SELECT Id, LastName, Email FROM Contact WHERE Email LIKE '%@gmail.com' LIMIT 1")["records"][0]
    found = sf.search(f"FIND {{{person['LastName']}}} IN NAME FIELDS RETURNING Contact(Id, Name, Email), Lead(Name)")
    records = found["searchRecords"]
    assert person["Id"] in [r.get("Id") for r in records if r["attributes"]["type"] == "Contact"]
    assert all(person["LastName"].lower() in r["Name"].lower() for r in records)
    types = [r["attributes"]["type"] for r in records]
    assert types == sorted(types, key=["Contact", "Lead"].index)  # grouped in RETURNING order
    by_email = sf.search(f"FIND {{{person['Email']}}} IN EMAIL FIELDS RETURNING Contact(Email WHERE "
                         f"Id = '{person['Id']}')")["searchRecords"]
    assert by_email == [{"attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/"
                                                                  f"{person['Id']}"}, "Email": person["Email"]}]
    prefix = sf.quick_search(person["LastName"][:3] + "*")["searchRecords"]
    assert prefix and list(prefix[0]) == ["attributes", "Id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.search("FIND jane RETURNING Contact")
    assert info.value.content[0]["errorCode"] == "MALFORMED_SEARCH"


def test_fields_functions_and_their_limit(sf):
    record = sf.query("SELECT FIELDS(ALL) FROM Contact LIMIT 1")["records"][0]
    assert {"Email", "EmailBouncedDate", "Lead_Source_Detail__c", "MailingAddress"} <= set(record)
    custom = sf.query("SELECT FIELDS(CUSTOM) FROM Lead LIMIT 200")["records"][0]
    assert set(custom) - {"attributes"} == {"Status__c", "Lead_Score__c", "Last_Visit__c", "Lead_Source_Detail__c"}
    standard = sf.query("SELECT FIELDS(STANDARD) FROM Account")["records"][0]
    assert "External_Id__c" not in standard and "Name" in standard
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT FIELDS(ALL) FROM Contact LIMIT 201")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert info.value.content[0]["message"].endswith("The SOQL FIELDS function must have a LIMIT of at most 200")


def test_semi_join_anti_join_and_group_by(sf, admin):
    campaign = sf.query("SELECT Id FROM Campaign LIMIT 1")["records"][0]["Id"]
    members = {r["ContactId"] for r in sf.query_all(
        f"SELECT ContactId FROM CampaignMember WHERE CampaignId = '{campaign}' AND ContactId != null")["records"]}
    inside = sf.query_all(f"SELECT Id FROM Contact WHERE Id IN (SELECT ContactId FROM CampaignMember "
                          f"WHERE CampaignId = '{campaign}')")["records"]
    outside = sf.query(f"SELECT COUNT() FROM Contact WHERE Id NOT IN (SELECT ContactId FROM CampaignMember "
                       f"WHERE CampaignId = '{campaign}')")["totalSize"]
    live_members = {r["Id"] for r in inside}
    assert live_members <= members and live_members
    assert len(inside) + outside == admin.count("Contact")
    grouped = sf.query("SELECT LeadSource, COUNT(Id) total, COUNT(Email) FROM Contact GROUP BY LeadSource "
                       "ORDER BY LeadSource")["records"]
    assert sum(r["total"] for r in grouped) == admin.count("Contact")
    assert all(set(r) == {"attributes", "LeadSource", "total", "expr0"} for r in grouped)
    assert grouped[0]["attributes"] == {"type": "AggregateResult"}
    web = next(r for r in grouped if r["LeadSource"] == "Web")
    assert web["total"] == sf.query("SELECT COUNT() FROM Contact WHERE LeadSource = 'Web'")["totalSize"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT LeadSource, Email FROM Contact GROUP BY LeadSource")
    assert "Field must be grouped or aggregated: Email" in info.value.content[0]["message"]


def test_organization_identity_and_userinfo(sf, emulator):
    assert sf.is_sandbox() is False
    org = sf.query("SELECT Id, IsSandbox, InstanceName, OrganizationType FROM Organization")["records"][0]
    assert (org["InstanceName"], org["OrganizationType"]) == ("EMU1", "Enterprise Edition")
    token = requests.post(f"{emulator.url}/login/services/oauth2/token", data={
        "grant_type": "client_credentials"}, auth=("emulator-client", "emulator-secret"), timeout=30).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    identity = requests.get(token["id"], headers=headers, timeout=30)
    assert identity.status_code == 200
    assert identity.json()["organization_id"] == org["Id"] and identity.json()["username"] == "etl@example.com"
    assert identity.json()["urls"]["rest"].startswith(emulator.url)
    info = requests.get(f"{emulator.url}/services/oauth2/userinfo", headers=headers, timeout=30)
    assert info.json()["sub"] == token["id"] and info.json()["preferred_username"] == "etl@example.com"
    denied = requests.get(token["id"], headers={"Authorization": "Bearer nope"}, timeout=30)
    assert denied.status_code == 403 and denied.text == "Bad_OAuth_Token"


def test_describe_sub_resources_answer_like_salesforce(sf, emulator):
    layouts = sf.restful("sobjects/Contact/describe/layouts")
    assert layouts["layouts"] == [] and "recordTypeMappings" in layouts
    assert "compactLayouts" in sf.restful("sobjects/Lead/describe/compactLayouts")
    missing = requests.get(f"{emulator.url}/services/data/v59.0/sobjects/Contact/describe/nosuch",
                           headers={"Authorization": f"Bearer {sf.session_id}"}, timeout=30)
    assert missing.status_code == 404
    assert missing.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
