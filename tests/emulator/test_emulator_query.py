"""SOQL over REST: paging boundaries, the grammar subset, encodings and Salesforce's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _query_pages(sf, soql, include_deleted=False):
    first = sf.query(soql, include_deleted=include_deleted)
    pages = [first]
    while not pages[-1]["done"]:
        pages.append(sf.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True))
    return pages


@pytest.mark.parametrize("limit,expected_pages", [(0, [0]), (1, [1]), (2000, [2000]), (2001, [2000, 1])])
def test_paging_boundaries(sf, limit, expected_pages):
    pages = _query_pages(sf, f"SELECT Id FROM Contact ORDER BY Id LIMIT {limit}")
    assert [len(p["records"]) for p in pages] == expected_pages
    assert all(p["totalSize"] == limit for p in pages)
    assert [p["done"] for p in pages] == [False] * (len(pages) - 1) + [True]
    ids = [r["Id"] for p in pages for r in p["records"]]
    assert len(ids) == len(set(ids)) == limit
    if len(pages) > 1:
        assert pages[0]["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
        assert pages[0]["nextRecordsUrl"].endswith("-2000")


def test_zero_matches_query_all(sf):
    result = sf.query_all("SELECT Id FROM Contact WHERE Email = 'nobody@nowhere.invalid'")
    assert result == {"records": [], "totalSize": 0, "done": True}


def test_full_object_read_matches_admin_count(sf, admin):
    records = list(sf.query_all_iter("SELECT Id, Email FROM Contact"))
    assert len(records) == admin.count("Contact") > 2000
    assert len({r["Id"] for r in records}) == len(records)


def test_query_all_includes_recycle_bin(sf, admin):
    live = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    everything = sf.query("SELECT COUNT() FROM Contact", include_deleted=True)["totalSize"]
    assert live == admin.count("Contact")
    assert everything == admin.count("Contact", include_deleted=True) > live
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert deleted["totalSize"] == everything - live
    assert all(r["IsDeleted"] is True for r in deleted["records"])
    assert sf.query("SELECT Id FROM Contact WHERE IsDeleted = true")["totalSize"] == 0


def test_query_all_cursor_under_query_all_path_and_tap_style_q(emulator, sf):
    first = sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 2500", include_deleted=True)
    url = first["nextRecordsUrl"]
    assert "/queryAll/" in url
    # tap-salesforce keeps sending q on cursor URLs; the cursor wins.
    response = requests.get(f"{emulator.url}{url}", params={"q": "SELECT Name FROM Account"},
                            headers={"Authorization": f"Bearer {sf.session_id}"})
    assert response.status_code == 200
    body = response.json()
    assert len(body["records"]) == 500 and body["done"] is True
    assert body["records"][0]["attributes"]["type"] == "Contact"
    same_via_query = requests.get(f"{emulator.url}{url.replace('/queryAll/', '/query/')}",
                                  headers={"Authorization": f"Bearer {sf.session_id}"})
    assert same_via_query.json()["records"] == body["records"]


def test_invalid_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more("/services/data/v59.0/query/01gNOSUCHCURSOR-2000", identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_record_encoding(sf):
    result = sf.query("SELECT Id, Name, Email, HasOptedOutOfEmail, Lead_Score__c, SystemModstamp, Account.Name, "
                      "Account.External_Id__c, MailingAddress FROM Contact WHERE AccountId != null "
                      "AND Lead_Score__c != null ORDER BY Id LIMIT 1")
    record = result["records"][0]
    assert list(record)[:2] == ["attributes", "Id"]
    assert record["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{record['Id']}"}
    assert len(record["Id"]) == 18 and record["Id"].startswith("003")
    assert isinstance(record["HasOptedOutOfEmail"], bool)
    assert isinstance(record["Lead_Score__c"], float)
    assert record["SystemModstamp"].endswith("+0000") and len(record["SystemModstamp"]) == 28
    assert record["Account"]["attributes"]["type"] == "Account"
    assert set(record["Account"]) == {"attributes", "Name", "External_Id__c"}
    assert record["MailingAddress"] is None or set(record["MailingAddress"]) >= {"city", "country", "street"}
    orphan = sf.query("SELECT Id, Account.Name FROM Contact WHERE AccountId = null LIMIT 1")["records"][0]
    assert orphan["Account"] is None


def test_case_insensitive_names_give_canonical_keys(sf):
    record = sf.query("select id, EMAIL, lastname from CONTACT where lastname != null limit 1")["records"][0]
    assert list(record)[1:] == ["Id", "Email", "LastName"]
    assert record["attributes"]["type"] == "Contact"


def test_count_queries(sf, admin):
    total = sf.query("SELECT COUNT() FROM Lead")
    assert total == {"totalSize": admin.count("Lead"), "done": True, "records": []}
    converted = sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = true")["totalSize"]
    assert 0 < converted < total["totalSize"]
    aggregate = sf.query("SELECT COUNT(Id) cnt FROM Lead WHERE IsConverted = true")
    assert aggregate["records"][0]["cnt"] == converted
    assert aggregate["records"][0]["attributes"] == {"type": "AggregateResult"}


def _ids(sf, where, obj="Contact"):
    return {r["Id"] for r in sf.query_all(f"SELECT Id FROM {obj} WHERE {where}")["records"]}


def test_where_operators_agree_with_python(sf):
    rows = sf.query_all("SELECT Id, Email, Status__c, Lead_Score__c, LastName, HasOptedOutOfEmail FROM Contact")
    rows = rows["records"]
    by = {r["Id"]: r for r in rows}
    assert _ids(sf, "Email = null") == {i for i, r in by.items() if r["Email"] is None}
    assert _ids(sf, "Email != null") == {i for i, r in by.items() if r["Email"] is not None}
    assert _ids(sf, "Status__c IN ('1', '5')") == {i for i, r in by.items() if r["Status__c"] in ("1", "5")}
    # SOQL's != and NOT IN keep nulls
    assert _ids(sf, "Status__c NOT IN ('1', '2')") == {i for i, r in by.items() if r["Status__c"] not in ("1", "2")}
    assert _ids(sf, "Status__c != '1'") == {i for i, r in by.items() if r["Status__c"] != "1"}
    assert _ids(sf, "Lead_Score__c >= 50 AND Lead_Score__c < 60") == {
        i for i, r in by.items() if r["Lead_Score__c"] is not None and 50 <= r["Lead_Score__c"] < 60}
    assert _ids(sf, "(Lead_Score__c = 7 OR Lead_Score__c = 8) AND HasOptedOutOfEmail = false") == {
        i for i, r in by.items() if r["Lead_Score__c"] in (7, 8) and not r["HasOptedOutOfEmail"]}
    assert _ids(sf, "NOT (Status__c = '1')") == {i for i, r in by.items() if r["Status__c"] != "1"}
    assert _ids(sf, "LastName LIKE 'sm%'") == {
        i for i, r in by.items() if (r["LastName"] or "").lower().startswith("sm")}
    assert _ids(sf, "Email LIKE '%@gmail.com'") == {
        i for i, r in by.items() if (r["Email"] or "").lower().endswith("@gmail.com")}
    assert _ids(sf, "LastName LIKE 'O\\'Bri_n'") == {i for i, r in by.items() if r["LastName"] == "O'Brien"}


def test_mixing_and_or_without_parentheses_is_malformed(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Contact WHERE Email = null AND LastName = 'x' OR LastName = 'y'")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: OR" in info.value.content[0]["message"]


@pytest.mark.parametrize("literal", [
    "2024-06-01T00:00:00Z", "2024-06-01T00:00:00+00:00", "2024-06-01T00:00:00+0000", "2024-06-01T00:00:00.000Z",
    "2024-06-01T00:00:00.000000Z", "2024-06-01T02:00:00.000+02:00", "2024-05-31T19:00:00-05:00",
])
def test_datetime_literal_forms_are_equivalent(sf, literal):
    base = sf.query("SELECT COUNT() FROM Contact WHERE SystemModstamp >= 2024-06-01T00:00:00Z")["totalSize"]
    assert base > 0
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE SystemModstamp >= {literal}")["totalSize"] == base


def test_sub_millisecond_window_boundaries(sf):
    record = sf.query("SELECT Id, SystemModstamp FROM Contact ORDER BY SystemModstamp DESC LIMIT 1")["records"][0]
    stamp = record["SystemModstamp"].replace("+0000", "")  # 2024-...T..:..:..mmm
    exact = f"{stamp}Z"
    just_after = f"{stamp}001Z"  # six fraction digits, one microsecond later
    assert record["Id"] in _ids(sf, f"SystemModstamp >= {exact}")
    assert record["Id"] not in _ids(sf, f"SystemModstamp >= {just_after}")
    assert record["Id"] in _ids(sf, f"SystemModstamp < {just_after}")
    assert record["Id"] not in _ids(sf, f"SystemModstamp < {exact}")


def test_date_literals(sf, admin):
    rows = sf.query_all("SELECT Id, CloseDate FROM Opportunity WHERE CloseDate >= 2024-01-01 "
                        "AND CloseDate < 2024-02-01")["records"]
    assert rows and all("2024-01-01" <= r["CloseDate"] < "2024-02-01" for r in rows)
    new_id = admin.insert("Contact", {"LastName": "Fresh"})
    today = datetime.now(UTC).date()
    recent = _ids(sf, "CreatedDate = LAST_N_DAYS:3")
    assert new_id in recent
    assert recent == _ids(sf, f"CreatedDate >= {today - timedelta(days=3)}T00:00:00Z "
                              f"AND CreatedDate < {today + timedelta(days=1)}T00:00:00Z")
    assert new_id in _ids(sf, "CreatedDate = TODAY")
    assert new_id not in _ids(sf, "CreatedDate < TODAY")


def test_order_by_limit_offset(sf):
    ordered = sf.query("SELECT Id, Lead_Score__c FROM Contact WHERE Lead_Score__c != null "
                       "ORDER BY Lead_Score__c DESC, Id ASC LIMIT 30")["records"]
    scores = [r["Lead_Score__c"] for r in ordered]
    assert scores == sorted(scores, reverse=True)
    shifted = sf.query("SELECT Id, Lead_Score__c FROM Contact WHERE Lead_Score__c != null "
                       "ORDER BY Lead_Score__c DESC, Id ASC LIMIT 10 OFFSET 20")["records"]
    assert [r["Id"] for r in shifted] == [r["Id"] for r in ordered[20:30]]
    nulls_last = sf.query("SELECT Id, Email FROM Contact ORDER BY Email ASC NULLS LAST")["records"]
    assert nulls_last[0]["Email"] is not None


def test_fifteen_character_ids_match(sf):
    record = sf.query("SELECT Id, AccountId FROM Contact WHERE AccountId != null LIMIT 1")["records"][0]
    short_id, short_account = record["Id"][:15], record["AccountId"][:15]
    assert _ids(sf, f"Id = '{short_id}'") == {record["Id"]}
    assert record["Id"] in _ids(sf, f"AccountId IN ('{short_account}')")


def test_multiple_whitespace_and_newlines(sf):
    result = sf.query("SELECT  Id,\n   Email\nFROM   Contact\n WHERE  Email != null  LIMIT 2")
    assert result["totalSize"] == 2


@pytest.mark.parametrize("soql,code,fragment", [
    ("SELECT Id FROMM Contact", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
    ("SELECT Id, Id FROM Contact", "MALFORMED_QUERY", "duplicate field selected: Id"),
    ("SELECT Id, Nope__c FROM Contact", "INVALID_FIELD", "No such column 'Nope__c' on entity 'Contact'"),
    ("SELECT Id FROM Contact WHERE Nope = 1", "INVALID_FIELD", "No such column 'Nope'"),
    ("SELECT Id, Foo.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Foo'"),
    ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported"),
    ("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_FIELD",
     "must be of type dateTime and should not be enclosed in quotes"),
    ("SELECT Id FROM Contact WHERE Email = 5", "INVALID_FIELD", "must be of type string"),
    ("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'true'", "INVALID_FIELD", "must be of type boolean"),
    ("SELECT Id FROM Contact WHERE Email = 'unterminated", "MALFORMED_QUERY", "unexpected token"),
])
def test_query_errors(sf, soql, code, fragment):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    error = info.value.content[0]
    assert error["errorCode"] == code
    assert fragment in error["message"]


def test_malformed_query_message_points_at_the_token(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROMM Contact")
    message = info.value.content[0]["message"]
    assert message.splitlines()[1:4] == ["SELECT Id FROMM Contact", "          ^", "ERROR at Row:1:Column:11"]


def test_batch_size_header(sf):
    page = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=250"})
    assert len(page["records"]) == 250
    assert page["nextRecordsUrl"].endswith("-250")
