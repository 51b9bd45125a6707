"""Mapping rules of issue 16's points 7 and 9: a source mapped to a code and a meaning,
owners of created Leads, Accounts of created Contacts, and one creator of people."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.mapping.model import Direction
from crm_sync.paths import INCLUDE_DIR

LEAD = ("object: Lead\ntarget: people\nmatch_key: email\nfields:\n  - {source: Email, target: email}\n"
        "  - {source: Company, target: company}\n")
CONTACT = ("object: Contact\ntarget: people\nmatch_key: email\nfields:\n  - {source: Email, target: email}\n"
           "  - {source: AccountId, target: account_sf_id}\n")


def _load(tmp_path: Path, text: str):
    path = tmp_path / "thing.yaml"
    path.write_text(text)
    return load_mapping(path)


def test_shipped_mappings_load_code_and_meaning_of_status() -> None:
    contact = load_mappings(INCLUDE_DIR / "mappings").get("Contact")
    status = [f for f in contact.fields if f.source == "Status__c"]
    assert [(f.target, f.values) for f in status] == [("status_code", None), ("status", "contact_status")]


def test_one_source_may_feed_several_columns_and_only_one_is_written(tmp_path: Path) -> None:
    mapping = _load(tmp_path, LEAD + "  - {source: Status__c, target: status_code}\n"
                    "  - {source: Status__c, target: status, values: contact_status, direction: both,"
                    " conflict: crm_wins}\n")
    assert [f.target for f in mapping.loaded_fields] == ["email", "company", "status_code", "status"]
    assert [(f.target, f.direction) for f in mapping.written_fields] == [("status", Direction.BOTH)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LEAD + "  - {source: Lead_Score__c, target: a, direction: to_crm}\n"
                "  - {source: Lead_Score__c, target: b, direction: to_crm}\n",
         "field Lead_Score__c: mapped to several columns, of which only one may be to_crm or both"),
        (LEAD + "  - {source: Status__c, target: status}\n  - {source: Status__c, target: status}\n",
         "target column 'status' used twice"),
        (LEAD + "writeback: {create: true, owner: {user: a@b.c, queue: Web Leads}}\n",
         "writeback > owner: give exactly one of user, queue or assignment_rule"),
        (LEAD + "writeback: {create: true, owner: {}}\n", "give exactly one of user, queue or assignment_rule"),
        (LEAD + "writeback: {owner: {queue: Web Leads}}\n", "writeback > owner: only for the Lead mapping with create"),
        (CONTACT + "writeback: {create: true, owner: {queue: Web Leads}}\n", "writeback > owner: only for the Lead"),
        (CONTACT + "writeback: {create: true}\n", "a new Contact needs an Account; set writeback.account"),
        (CONTACT + "writeback: {create: true, account: {match: company_name, id: 001000000000001AAA}}\n",
         "writeback > account: give exactly one of match: company_name or id"),
        (CONTACT + "writeback: {create: true, account: {match: website}}\n", "Input should be 'company_name'"),
        (CONTACT + "writeback: {create: true, account: {id: 003000000000001AAA}}\n", "String should match pattern"),
        (LEAD + "writeback: {create: true, account: {match: company_name}}\n",
         "writeback > account: only for the Contact mapping with create: true"),
    ],
)
def test_broken_owner_and_account_options_fail_clearly(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(MappingError) as caught:
        _load(tmp_path, text)
    assert expected in str(caught.value)


def test_owner_and_account_options_load(tmp_path: Path) -> None:
    lead = _load(tmp_path, LEAD + "writeback: {create: true, owner: {assignment_rule: default}}\n")
    assert lead.writeback.owner is not None and lead.writeback.owner.assignment_rule == "default"
    contact = _load(tmp_path, CONTACT + "writeback: {create: true, account: {match: company_name}}\n")
    assert contact.writeback.account is not None and contact.writeback.account.match == "company_name"


def test_only_one_of_lead_and_contact_may_create_people(tmp_path: Path) -> None:
    shutil.copytree(INCLUDE_DIR / "mappings", tmp_path, dirs_exist_ok=True)
    contact = tmp_path / "contact.yaml"
    contact.write_text(contact.read_text().replace(
        "mode: create_and_update\n", "mode: create_and_update\nwriteback: {create: true, account: {match: company_name}}\n"))
    with pytest.raises(MappingError, match="contact.yaml and lead.yaml both set writeback.create; exactly one"):
        load_mappings(tmp_path)
    lead = tmp_path / "lead.yaml"
    kept = [line for line in lead.read_text().splitlines(keepends=True) if not line.startswith("  owner:")]
    lead.write_text("".join(kept).replace("  create: true ", "  create: false "))
    mapping_set = load_mappings(tmp_path)
    assert [m.object for m in mapping_set.objects if m.writeback.create and m.is_people] == ["Contact"]
