"""The admin API's dirty-org tools: planting records verbatim and Salesforce's merge."""

from __future__ import annotations

import pytest

from emulator.admin import AdminError


def test_planted_records_bypass_validation_and_are_served_as_stored(sf, admin):
    bad_id = "00Q000000000ZZZ"  # 15 characters: no API would hand this out
    planted = admin.plant("Lead", {"Id": bad_id, "LastName": "Null\x00Byte", "Company": "",
                                   "Email": "not an email", "Status__c": "ZZ", "Lead_Score__c": -1e15})
    assert planted == bad_id
    rows = sf.query_all("SELECT Id, LastName, Company, Email, Status__c, Lead_Score__c FROM Lead "
                        "WHERE Email = 'not an email'")["records"]
    assert [(r["Id"], r["LastName"], r["Email"], r["Status__c"], r["Lead_Score__c"]) for r in rows] == [
        (bad_id, "Null\x00Byte", "not an email", "ZZ", -1e15)]
    with pytest.raises(AdminError) as info:
        admin.plant("Lead", {"NoSuchField__c": 1})
    assert "NoSuchField__c" in str(info.value)


def test_merge_deletes_the_losers_with_master_record_id_and_moves_their_children(sf, admin):
    master = admin.insert("Contact", {"LastName": "Master", "Email": "merge.master@example.com"})
    loser = admin.insert("Contact", {"LastName": "Loser", "Email": "merge.loser@example.com"})
    campaign = sf.query("SELECT Id FROM Campaign LIMIT 1")["records"][0]["Id"]
    member = admin.insert("CampaignMember", {"CampaignId": campaign, "ContactId": loser})
    before = admin.get("Contact", master)["SystemModstamp"]

    result = admin.merge("Contact", master, [loser])

    assert result["masterId"] == master and result["mergedIds"] == [loser]
    assert result["reparented"].get("CampaignMember.ContactId") == 1
    gone = sf.query_all(f"SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = '{loser}'",
                        include_deleted=True)["records"]
    assert [(r["IsDeleted"], r["MasterRecordId"]) for r in gone] == [(True, master)]
    assert admin.get("CampaignMember", member)["ContactId"] == master
    assert admin.get("Contact", master)["SystemModstamp"] > before
    with pytest.raises(AdminError):
        admin.merge("Contact", master, [loser])  # a loser already in the recycle bin
    with pytest.raises(AdminError):
        admin.merge("Opportunity", master, [loser])
