"""The mapping keys of the write-back: `writeback: {create, external_id}`, strictly validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.paths import INCLUDE_DIR

PEOPLE = "target: people\nmatch_key: email\n"
FIELDS = "fields:\n  - {source: Email, target: email}\n  - {source: Lead_Score__c, target: lead_score, direction: to_crm}\n"
ACCOUNT = ("object: Account\ntarget: accounts\nfields:\n  - {source: Name, target: name}\n"
           "  - {source: External_Id__c, target: external_id}\n")


def _load(tmp_path: Path, text: str):
    path = tmp_path / "thing.yaml"
    path.write_text(text)
    return load_mapping(path)


def test_shipped_lead_mapping_creates_leads_and_others_only_update() -> None:
    mapping_set = load_mappings(INCLUDE_DIR / "mappings")
    creates = {m.object: m.writeback.create for m in mapping_set.objects}
    assert creates == {"Account": False, "Campaign": False, "CampaignMember": True, "Contact": False, "Lead": True, "Opportunity": False}
    lead = mapping_set.get("Lead")
    assert [f.source for f in lead.written_fields] == [
        "HasOptedOutOfEmail", "Lead_Score__c", "Last_Visit__c", "EmailBouncedDate", "EmailBouncedReason",
        "First_Touch_Channel__c", "First_Touch_Source__c", "Last_Touch_Channel__c", "Last_Touch_Source__c",
        "Last_Activity_At__c"]


def test_writeback_defaults_to_update_only(tmp_path: Path) -> None:
    mapping = _load(tmp_path, "object: Contact\n" + PEOPLE + FIELDS)
    assert (mapping.writeback.create, mapping.writeback.external_id) == (False, None)


def test_upsert_by_external_id_is_allowed_for_records(tmp_path: Path) -> None:
    mapping = _load(tmp_path, ACCOUNT + "writeback: {create: true, external_id: External_Id__c}\n")
    assert mapping.writeback.create and mapping.writeback.external_id == "External_Id__c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("object: Contact\n" + PEOPLE + "writeback: {create: true}\n" + FIELDS,
         "writeback > create: a new Contact needs an Account; set writeback.account"),
        (ACCOUNT + "writeback: {create: true}\n",
         "writeback > create: needs writeback.external_id"),
        (ACCOUNT + "writeback: {create: true, external_id: Missing__c}\n",
         "writeback > external_id: 'Missing__c' is not the source of any field"),
        (ACCOUNT + "writeback: {creat: true}\n", "writeback > creat: Extra inputs are not permitted"),
        (ACCOUNT + "writeback: {create: maybe}\n", "writeback > create: Input should be a valid boolean"),
        (ACCOUNT + "writeback: {external_id: 'Bad Name'}\n", "writeback > external_id: String should match pattern"),
    ],
)
def test_broken_writeback_keys_fail_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(MappingError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "thing.yaml"))
    assert expected in str(caught.value)
