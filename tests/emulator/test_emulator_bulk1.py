"""Bulk API 1.0 through the unmodified simple-salesforce ``sf.bulk`` client and raw CSV/XML requests."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"


def _async(sf, path: str, method: str = "GET", ctype: str = "application/json", **kw):
    headers = {"X-SFDC-Session": sf.session_id, "Content-Type": ctype, **kw.pop("headers", {})}
    return requests.request(method, f"{sf.bulk_url}{path}", headers=headers, timeout=30, **kw)


def test_bulk_query_counts_match_rest(sf, admin):
    records = sf.bulk.Contact.query("SELECT Id, Email, LastModifiedDate, Account.Name FROM Contact", wait=0)
    assert len(records) == admin.count("Contact")
    first = records[0]
    assert list(first)[:2] == ["attributes", "Id"]
    assert isinstance(first["LastModifiedDate"], int)  # Bulk 1.0 JSON: epoch milliseconds
    with_deleted = sf.bulk.Contact.query_all("SELECT Id FROM Contact", wait=0)
    assert len(with_deleted) == admin.count("Contact", include_deleted=True) > len(records)


def test_bulk_query_lazy_operation_and_bad_query(sf):
    chunks = list(sf.bulk.Account.query("SELECT Id, Name FROM Account LIMIT 25", lazy_operation=True, wait=0))
    assert sum(len(c) for c in chunks) == 25
    with pytest.raises(SalesforceGeneralError) as info:
        sf.bulk.Account.query("SELECT Nope FROM Account", wait=0)
    assert "No such column 'Nope'" in str(info.value)


def test_bulk_dml_results_in_submission_order(sf, admin):
    rows = [{"LastName": "Bulk One", "Email": "bulk.one@example.com"}, {"Email": "no-last-name@example.com"},
            {"LastName": "Bulk Three", "Email": "not-an-email"}, {"LastName": "Bulk Four"}]
    results = sf.bulk.Contact.insert(rows)
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    one, four = results[0]["id"], results[3]["id"]
    assert admin.get("Contact", one)["Email"] == "bulk.one@example.com"

    updated = sf.bulk.Contact.update([{"Id": one, "Title": "Bulk updated"}, {"Id": "003000000000000AAA",
                                                                            "Title": "x"}])
    assert [r["success"] for r in updated] == [True, False]
    assert admin.get("Contact", one)["Title"] == "Bulk updated"

    upserted = sf.bulk.Account.upsert([{"External_Id__c": "BULK1-NEW", "Name": "Bulk Upsert"}],
                                      "External_Id__c")
    assert upserted[0]["created"] is True
    again = sf.bulk.Account.upsert([{"External_Id__c": "BULK1-NEW", "Name": "Bulk Upsert 2"}],
                                   "External_Id__c")
    assert again[0] == {"success": True, "created": False, "id": upserted[0]["id"], "errors": []}

    deleted = sf.bulk.Contact.delete([{"Id": one}])
    assert deleted[0]["success"] and admin.get("Contact", one)["IsDeleted"] is True
    hard = sf.bulk.Contact.hard_delete([{"Id": four}])
    assert hard[0]["success"]
    assert admin.count("Contact", include_deleted=True) == len(sf.bulk.Contact.query_all("SELECT Id FROM Contact",
                                                                                          wait=0))


def test_csv_job_with_xml_answers_and_pk_chunking(sf, admin):
    created = _async(sf, "job", "POST", json={"operation": "queryAll", "object": "Lead", "contentType": "CSV"},
                     headers={"Sforce-Enable-PKChunking": "chunkSize=200", "Sforce-Disable-Batch-Retry": "true"})
    assert created.status_code == 201
    job_id = created.json()["id"]
    added = _async(sf, f"job/{job_id}/batch", "POST", "text/csv", data="SELECT Id, Email FROM Lead")
    assert added.status_code == 201
    original = ET.fromstring(added.content).find(f"{NS}id").text
    listing = ET.fromstring(_async(sf, f"job/{job_id}/batch").content)
    batches = listing.findall(f"{NS}batchInfo")
    states = {b.find(f"{NS}id").text: b.find(f"{NS}state").text for b in batches}
    assert states.pop(original) == "NotProcessed"
    assert set(states.values()) == {"Completed"} and len(states) >= 2
    ids: list[str] = []
    for batch_id in states:
        result_list = ET.fromstring(_async(sf, f"job/{job_id}/batch/{batch_id}/result").content)
        for result in result_list.findall(f"{NS}result"):
            body = _async(sf, f"job/{job_id}/batch/{batch_id}/result/{result.text}", ctype="text/csv").text
            reader = list(csv.reader(io.StringIO(body)))
            assert reader[0] == ["Id", "Email"]
            ids += [r[0] for r in reader[1:]]
    assert len(ids) == len(set(ids)) == admin.count("Lead", include_deleted=True)
    closed = _async(sf, f"job/{job_id}", "POST", json={"state": "Closed"})
    assert closed.json()["state"] == "Closed" and closed.json()["numberBatchesTotal"] == len(batches)


def test_xml_job_and_xml_records(sf, admin):
    job_xml = ('<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
               "<operation>insert</operation><object>Lead</object><contentType>XML</contentType></jobInfo>")
    created = _async(sf, "job", "POST", "application/xml; charset=UTF-8", data=job_xml)
    assert created.status_code == 201
    job_id = ET.fromstring(created.content).find(f"{NS}id").text
    data = ('<sObjects xmlns="http://www.force.com/2009/06/asyncapi/dataload" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><sObject><LastName>Xml Lead</LastName>'
            "<Company>Xml Co</Company><Title xsi:nil=\"true\"/></sObject><sObject><LastName>No Company</LastName>"
            "</sObject></sObjects>")
    batch_id = ET.fromstring(_async(sf, f"job/{job_id}/batch", "POST", "application/xml", data=data).content
                             ).find(f"{NS}id").text
    info = ET.fromstring(_async(sf, f"job/{job_id}/batch/{batch_id}").content)
    assert info.find(f"{NS}state").text == "Completed"
    assert info.find(f"{NS}numberRecordsFailed").text == "1"
    results = ET.fromstring(_async(sf, f"job/{job_id}/batch/{batch_id}/result").content).findall(f"{NS}result")
    assert [r.find(f"{NS}success").text for r in results] == ["true", "false"]
    assert admin.get("Lead", results[0].find(f"{NS}id").text)["Company"] == "Xml Co"
    assert results[1].find(f"{NS}errors/{NS}statusCode").text == "REQUIRED_FIELD_MISSING"


def test_csv_dml_batch_results(sf, admin):
    job_id = _async(sf, "job", "POST", json={"operation": "insert", "object": "Campaign",
                                             "contentType": "CSV"}).json()["id"]
    body = "Name,Status,IsActive\nBulk Campaign,Planned,true\n,Planned,false\n"
    batch = ET.fromstring(_async(sf, f"job/{job_id}/batch", "POST", "text/csv", data=body).content)
    batch_id = batch.find(f"{NS}id").text
    result = _async(sf, f"job/{job_id}/batch/{batch_id}/result").text
    rows = list(csv.reader(io.StringIO(result)))
    assert rows[0] == ["Id", "Success", "Created", "Error"]
    assert rows[1][1:3] == ["true", "true"] and rows[2][1] == "false"
    assert rows[2][3].startswith("REQUIRED_FIELD_MISSING:")
    assert admin.get("Campaign", rows[1][0])["IsActive"] is True
    assert _async(sf, f"job/{job_id}/batch/{batch_id}/request").text == body


def test_async_errors_session_and_unknown_job(sf, emulator):
    bad = requests.get(f"{sf.bulk_url}job/750000000000000AAA", headers={"X-SFDC-Session": "nope",
                                                                       "Content-Type": "application/json"},
                       timeout=30)
    assert bad.status_code == 400 and bad.json()["exceptionCode"] == "InvalidSessionId"
    missing = _async(sf, "job/750000000000000AAA")
    assert missing.status_code == 400
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json()["exceptionCode"] == "InvalidJob"
    xml_missing = _async(sf, "job/750000000000000AAA", ctype="application/xml")
    assert ET.fromstring(xml_missing.content).find(f"{NS}exceptionCode").text == "InvalidJob"


def test_bulk1_faults_and_accounting(fresh, connect):
    handle = fresh(records=300, seed=3)
    admin = handle.admin()
    sf = connect(handle)
    admin.reset_stats()
    sf.bulk.Contact.query("SELECT Id FROM Contact", wait=0)
    kinds = admin.stats()["by_kind"]
    assert kinds["bulk1_job_create"] == 1 and kinds["bulk1_batch_create"] == 1
    assert kinds["bulk1_batch_info"] >= 1 and kinds["bulk1_batch_result"] == 1 and kinds["bulk1_job_close"] == 1
    admin.set_faults(lock_next=1)
    results = sf.bulk.Contact.insert([{"LastName": "Locked"}, {"LastName": "Fine"}])
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" and results[1]["success"]
    admin.set_faults(bulk_fail_next=1)  # retried by default: the batch still completes
    assert len(sf.bulk.Contact.query("SELECT Id FROM Contact LIMIT 5", wait=0)) == 5
    job_id = _async(sf, "job", "POST", json={"operation": "query", "object": "Contact", "contentType": "JSON"},
                    headers={"Sforce-Disable-Batch-Retry": "true"}).json()["id"]
    admin.set_faults(bulk_fail_next=1)
    batch = _async(sf, f"job/{job_id}/batch", "POST", data="SELECT Id FROM Contact").json()
    info = _async(sf, f"job/{job_id}/batch/{batch['id']}").json()
    assert info["state"] == "Failed" and "retry is disabled" in info["stateMessage"]
    admin.set_faults(error_next=1, error_status=503)
    assert _async(sf, f"job/{job_id}").status_code == 503
    admin.clear_faults()
    admin.set_api_usage(admin.stats()["api_usage"]["max"])
    refused = _async(sf, f"job/{job_id}")
    assert refused.status_code == 403 and refused.json()["exceptionCode"] == "ExceededQuota"
