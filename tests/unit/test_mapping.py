"""The mapping schema: real files load; broken files fail naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.mapping.model import Direction
from crm_sync.paths import INCLUDE_DIR

REAL = INCLUDE_DIR / "mappings"


def test_shipped_mappings_load_with_their_value_maps() -> None:
    mapping_set = load_mappings(REAL)
    assert [m.object for m in mapping_set.objects] == ["Account", "Campaign", "CampaignMember", "Contact", "Lead", "Opportunity"]
    contact = mapping_set.get("contact")
    assert contact.is_people and contact.match_field.source == "Email"
    assert mapping_set.value_maps["contact_status"].crm_values == ["1", "2", "3", "4", "5"]
    score = next(f for f in contact.fields if f.source == "Lead_Score__c")
    assert score.direction is Direction.TO_CRM and score not in contact.loaded_fields


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thing.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("object: Contact\ntarget: people\nmatch_key: email\nfields:\n"
         "  - {source: Email, target: email, transfrom: lower_trim}\n",
         "field Email > transfrom: Extra inputs are not permitted"),
        ("object: Contact\ntarget: people\nmatch_key: email\nfields:\n"
         "  - {source: Email, target: email}\n  - {source: HasOptedOutOfEmail, target: unsub, direction: both}\n",
         "field HasOptedOutOfEmail: direction 'both' needs a conflict rule"),
        ("object: Contact\ntarget: people\nmatch_key: email\nfields:\n  - {source: Email, target: Email}\n",
         "field Email > target: String should match pattern"),
        ("object: Account\ntarget: accounts\nmatch_key: external_id\nfields:\n  - {source: Name, target: name}\n",
         "match_key 'external_id' is not the target of any field"),
        ("object: Account\ntarget: accounts\nfilter: \"Name = 'x'; DROP\"\nfields:\n  - {source: Name, target: name}\n",
         "filter: filter \"Name = 'x'; DROP\": only a WHERE condition is allowed"),
        ("object: Account\ntarget: accounts\nfilter: \"(Name = 'x'\"\nfields:\n  - {source: Name, target: name}\n",
         "unbalanced parentheses"),
        ("object: Account\ntarget: accounts\nfields:\n  - {source: Name, target: name, type: money}\n",
         "field Name > type: Input should be"),
        ("- just\n- a list\n", "expected a mapping with keys object, target, fields"),
        ("object: [unclosed\n", "not valid YAML"),
    ],
)
def test_broken_mapping_names_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message


def test_missing_value_map_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "object: Contact\ntarget: people\nmatch_key: email\nfields:\n"
        "  - {source: Email, target: email}\n  - {source: Status__c, target: status, values: nope}\n")
    with pytest.raises(MappingError, match=r"c.yaml: field Status__c: value map 'nope' not found"):
        load_mappings(tmp_path)


def test_value_map_with_repeated_value_fails(tmp_path: Path) -> None:
    shutil.copytree(REAL, tmp_path / "m")
    (tmp_path / "m" / "values" / "contact_status.csv").write_text("crm_value,marketing_value\n1,A\n1,B\n")
    with pytest.raises(MappingError, match=r"contact_status.csv:3: Salesforce value '1' listed twice"):
        load_mappings(tmp_path / "m")


def test_two_files_for_one_object_fail(tmp_path: Path) -> None:
    shutil.copytree(REAL, tmp_path / "m")
    shutil.copy(tmp_path / "m" / "lead.yaml", tmp_path / "m" / "lead_again.yaml")
    with pytest.raises(MappingError, match=r"object Lead is already mapped"):
        load_mappings(tmp_path / "m")
