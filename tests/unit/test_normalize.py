"""Record normaliser: REST JSON and Bulk CSV give the same staging payload."""

from __future__ import annotations

from crm_sync.normalize import from_bulk_csv, from_rest, without_nul
from crm_sync.salesforce import FieldInfo

FIELDS = {
    "id": FieldInfo("Id", "id", 18, False),
    "systemmodstamp": FieldInfo("SystemModstamp", "datetime", 0, False),
    "isdeleted": FieldInfo("IsDeleted", "boolean", 0, False),
    "lead_score__c": FieldInfo("Lead_Score__c", "double", 0, True),
    "numberofemployees": FieldInfo("NumberOfEmployees", "int", 0, True),
    "email": FieldInfo("Email", "email", 80, True),
}


def test_rest_record_drops_attributes() -> None:
    sf_id, modstamp, deleted, payload = from_rest({
        "attributes": {"type": "Contact", "url": "/x"}, "Id": "003000000000001AAA",
        "SystemModstamp": "2024-01-02T10:00:00.000+0000", "IsDeleted": True, "Email": None,
    })
    assert (sf_id, modstamp, deleted) == ("003000000000001AAA", "2024-01-02T10:00:00.000+0000", True)
    assert payload == {"Id": "003000000000001AAA", "SystemModstamp": "2024-01-02T10:00:00.000+0000",
                       "IsDeleted": True, "Email": None}


def test_bulk_csv_is_typed_by_describe() -> None:
    page = ('"Id","SystemModstamp","IsDeleted","Lead_Score__c","NumberOfEmployees","Email"\n'
            '"003000000000001AAA","2024-01-02T10:00:00.000Z","false","9.9213206E7","12",""\n'
            '"003000000000002AAA","2024-01-02T10:00:01.000Z","true","","","a,b@x.com"\n')
    rows = list(from_bulk_csv(page, FIELDS))
    assert rows[0][3] == {"Id": "003000000000001AAA", "SystemModstamp": "2024-01-02T10:00:00.000Z",
                          "IsDeleted": False, "Lead_Score__c": 99213206.0, "NumberOfEmployees": 12, "Email": None}
    assert rows[1][2] is True and rows[1][3]["Email"] == "a,b@x.com" and rows[1][3]["Lead_Score__c"] is None


def test_empty_bulk_page_gives_no_rows() -> None:
    assert list(from_bulk_csv("", FIELDS)) == []


def test_nul_characters_are_removed_the_same_way_on_both_paths() -> None:
    assert without_nul({"a\x00": ["x\x00y", {"b": "\x00"}], "n": 1, "z": None}) == {"a": ["xy", {"b": ""}], "n": 1,
                                                                                   "z": None}
    page = ('"Id","SystemModstamp","IsDeleted","Email"\n'
            '"","2024-01-02T10:00:00.000Z","false","a\x00b@example.com"\n')
    (sf_id, _, _, payload), = from_bulk_csv(page, FIELDS)
    assert (sf_id, payload["Id"], payload["Email"]) == ("", None, "ab@example.com")
    rest_id, *_ = from_rest({"Id": None, "SystemModstamp": "2024-01-02T10:00:00.000Z", "IsDeleted": False})
    assert rest_id == ""  # no Id: staged empty, quarantined as `Id: missing`
