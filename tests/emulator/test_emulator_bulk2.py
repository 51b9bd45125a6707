"""Bulk API 2.0 through simple-salesforce: query paging and CSV encoding, ingest per-record results."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _rows(page: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page)))


def _auth(sf) -> dict[str, str]:
    return {"Authorization": f"Bearer {sf.session_id}"}


def test_query_paging_with_small_max_records(sf):
    soql = "SELECT Id, Email FROM Contact WHERE Lead_Score__c >= 90 ORDER BY Id"
    expected = [r["Id"] for r in sf.query_all(soql)["records"]]
    assert len(expected) > 40
    pages = list(sf.bulk2.Contact.query(soql, max_records=17, wait=0))
    assert len(pages) == -(-len(expected) // 17)
    assert all(p.splitlines()[0] == '"Id","Email"' for p in pages)
    got = [row["Id"] for page in pages for row in _rows(page)]
    assert got == expected


def test_results_headers_and_locators(emulator, sf):
    job = sf.bulk2.Contact._client.create_job("query", "SELECT Id FROM Contact ORDER BY Id LIMIT 25")
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    status = requests.get(f"{emulator.url}/services/data/v59.0/jobs/query/{job['id']}", headers=_auth(sf)).json()
    assert status["state"] == "JobComplete" and status["numberRecordsProcessed"] == 25
    url = f"{emulator.url}/services/data/v59.0/jobs/query/{job['id']}/results"
    first = requests.get(url, params={"maxRecords": 10}, headers=_auth(sf))
    assert first.headers["Sforce-NumberOfRecords"] == "10"
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-Limit-Info"].startswith("api-usage=")
    locator = first.headers["Sforce-Locator"]
    assert locator not in ("", "null")
    second = requests.get(url, params={"maxRecords": 10, "locator": locator}, headers=_auth(sf))
    third = requests.get(url, params={"maxRecords": 10, "locator": second.headers["Sforce-Locator"]},
                         headers=_auth(sf))
    assert third.headers["Sforce-NumberOfRecords"] == "5" and third.headers["Sforce-Locator"] == "null"
    ids = [r["Id"] for resp in (first, second, third) for r in _rows(resp.text)]
    assert len(ids) == len(set(ids)) == 25
    again = requests.get(url, params={"maxRecords": 10, "locator": locator}, headers=_auth(sf))
    assert again.text == second.text  # locators are stable
    assert requests.delete(f"{emulator.url}/services/data/v59.0/jobs/query/{job['id']}",
                           headers=_auth(sf)).status_code == 204


def test_empty_result_has_header_only(sf):
    pages = list(sf.bulk2.Contact.query("SELECT Id, Name FROM Contact WHERE Email = 'none@none.invalid'", wait=0))
    assert pages == ['"Id","Name"\n']


def test_csv_value_encoding(sf, admin):
    account_id = admin.insert("Account", {"Name": 'Quote "Co", Ltd', "AnnualRevenue": 99213206.0,
                                          "NumberOfEmployees": 12})
    contact_id = admin.insert("Contact", {"LastName": "Csv", "AccountId": account_id, "Lead_Score__c": 5,
                                          "HasOptedOutOfEmail": True, "Last_Visit__c": "2024-01-02T10:00:00Z"})
    page = next(iter(sf.bulk2.Contact.query(
        f"SELECT Id, Email, HasOptedOutOfEmail, Lead_Score__c, Last_Visit__c, Account.Name, Account.AnnualRevenue, "
        f"Account.NumberOfEmployees FROM Contact WHERE Id = '{contact_id}'", wait=0)))
    lines = page.splitlines()
    assert lines[0] == ('"Id","Email","HasOptedOutOfEmail","Lead_Score__c","Last_Visit__c","Account.Name",'
                        '"Account.AnnualRevenue","Account.NumberOfEmployees"')
    assert lines[1] == (f'"{contact_id}","","true","5.0","2024-01-02T10:00:00.000Z","Quote ""Co"", Ltd",'
                        '"9.9213206E7","12"')


def test_query_all_job_sees_recycle_bin(sf, admin):
    def count(operation):
        pages = getattr(sf.bulk2.Contact, operation)("SELECT Id, IsDeleted FROM Contact", wait=0)
        return sum(len(_rows(p)) for p in pages)

    assert count("query") == admin.count("Contact")
    assert count("query_all") == admin.count("Contact", include_deleted=True)


def test_compound_and_bad_soql_rejected_at_creation(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        list(sf.bulk2.Account.query("SELECT Id, BillingAddress FROM Account", wait=0))
    assert "compound data not supported" in info.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        list(sf.bulk2.Account.query("SELECT Id, Nope FROM Account", wait=0))
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_delimiter_and_line_ending(sf):
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName FROM Contact ORDER BY Id LIMIT 3",
                                        column_delimiter="PIPE", line_ending="CRLF", wait=0))
    assert pages[0].startswith('"Id"|"LastName"\r\n')
    assert pages[0].count("\r\n") == 4


def test_ingest_insert_with_success_and_failure_rows(sf, admin):
    records = [{"LastName": "Good", "Email": "good@example.com", "Status__c": "1"},
               {"LastName": "", "Email": "no.last.name@example.com", "Status__c": "1"},
               {"LastName": "BadMail", "Email": "jane.doe@", "Status__c": "1"},
               {"LastName": "Legacy", "Email": "legacy@example.com", "Status__c": "5"}]
    result = sf.bulk2.Contact.insert(records=records, wait=0)
    assert result[0]["numberRecordsProcessed"] == 4 and result[0]["numberRecordsFailed"] == 3
    details = sf.bulk2.Contact.get_all_ingest_records(result[0]["job_id"])
    ok = details["successfulRecords"]
    assert [r["LastName"] for r in ok] == ["Good"] and ok[0]["sf__Created"] == "true"
    assert admin.get("Contact", ok[0]["sf__Id"])["Email"] == "good@example.com"
    errors = {r["Email"]: r["sf__Error"] for r in details["failedRecords"]}
    assert errors["no.last.name@example.com"].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: "
                                                         "[LastName]:LastName --")
    assert errors["jane.doe@"].startswith("INVALID_EMAIL_ADDRESS:")
    assert errors["legacy@example.com"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert details["unprocessedRecords"] == []


def test_ingest_update_empty_means_unchanged_and_na_means_null(sf, admin):
    record_id = admin.insert("Contact", {"LastName": "Keep", "Title": "Boss", "Phone": "+1 555 0100"})
    data = f"Id,Title,Phone,LastName\n{record_id},,#N/A,Kept\n003000000000000AAA,x,,y\n"
    job = sf.bulk2.Contact._client.create_job("update")
    sf.bulk2.Contact._client.upload_job_data(job["id"], data)
    sf.bulk2.Contact._client.close_job(job["id"])
    info = sf.bulk2.Contact._client.get_job(job["id"], False)
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    record = admin.get("Contact", record_id)
    assert (record["Title"], record["Phone"], record["LastName"]) == ("Boss", None, "Kept")
    failed = _rows(sf.bulk2.Contact.get_failed_records(job["id"]))
    assert failed[0]["sf__Error"].startswith(("MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"))


def test_ingest_upsert_and_delete(sf, admin):
    admin.insert("Account", {"Name": "Before", "External_Id__c": "BULK-UPSERT-1"})
    result = sf.bulk2.Account.upsert(records=[{"External_Id__c": "BULK-UPSERT-1", "Name": "After"},
                                              {"External_Id__c": "BULK-UPSERT-2", "Name": "Created"}],
                                     external_id_field="External_Id__c", wait=0)
    ok = {r["External_Id__c"]: r for r in sf.bulk2.Account.get_all_ingest_records(result[0]["job_id"])[
        "successfulRecords"]}
    assert ok["BULK-UPSERT-1"]["sf__Created"] == "false" and ok["BULK-UPSERT-2"]["sf__Created"] == "true"
    assert admin.get("Account", ok["BULK-UPSERT-1"]["sf__Id"])["Name"] == "After"
    deleted = sf.bulk2.Account.delete(records=[{"Id": ok["BULK-UPSERT-2"]["sf__Id"]}], wait=0)
    assert deleted[0]["numberRecordsFailed"] == 0
    assert admin.get("Account", ok["BULK-UPSERT-2"]["sf__Id"])["IsDeleted"] is True
    again = sf.bulk2.Account.delete(records=[{"Id": ok["BULK-UPSERT-2"]["sf__Id"]}], wait=0)
    assert again[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Account.get_failed_records(again[0]["job_id"])
    assert "ENTITY_IS_DELETED" in failed


def test_bad_header_fails_job_and_leaves_rows_unprocessed(emulator, sf):
    client = sf.bulk2.Contact._client
    job = client.create_job("insert")
    client.upload_job_data(job["id"], "LastName,Shoe_Size__c\nA,42\nB,43\n")
    client.close_job(job["id"])
    info = client.get_job(job["id"], False)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Shoe_Size__c"
    for path in ("unprocessedrecords", "unprocessedRecords", "unprocessedrecords/", "unprocessedRecords/"):
        response = requests.get(f"{emulator.url}/services/data/v59.0/jobs/ingest/{job['id']}/{path}",
                                headers=_auth(sf))
        assert response.status_code == 200
        assert [r["LastName"] for r in _rows(response.text)] == ["A", "B"]


def test_aborted_job_rows_are_unprocessed(sf):
    client = sf.bulk2.Contact._client
    job = client.create_job("insert")
    assert job["state"] == "Open" and job["contentUrl"].endswith("/batches")
    client.upload_job_data(job["id"], "LastName\nNever\n")
    aborted = client.abort_job(job["id"], False)
    assert aborted["state"] == "Aborted"
    assert _rows(sf.bulk2.Contact.get_unprocessed_records(job["id"])) == [{"LastName": "Never"}]
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Never'")["totalSize"] == 0


def test_bulk_delay_keeps_jobs_in_progress(fresh, connect):
    emu = fresh(records=50, extra_args=["--bulk-delay", "1.5"])
    sf = connect(emu)
    job = sf.bulk2.Contact._client.create_job("query", "SELECT Id FROM Contact")
    assert sf.bulk2.Contact._client.get_job(job["id"], True)["state"] == "InProgress"
    pages = list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=1))
    assert sum(len(_rows(p)) for p in pages) == emu.admin().count("Contact")
