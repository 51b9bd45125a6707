"""The write-back scope option: people mappings only; a change is blocked per object."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.paths import INCLUDE_DIR
from crm_sync.writeback.plan import Change
from crm_sync.writeback.scope import Scope

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def test_only_people_mappings_may_have_a_scope(tmp_path: Path) -> None:
    path = tmp_path / "account.yaml"
    path.write_text("object: Account\ntarget: accounts\nwriteback: {scope: vip}\nfields:\n"
                    "  - {source: Name, target: name}\n")
    with pytest.raises(MappingError, match="writeback > scope: a segment holds people"):
        load_mapping(path)
    path.write_text("object: Contact\ntarget: people\nmatch_key: email\nwriteback: {scope: 'bad name;'}\n"
                    "fields:\n  - {source: Email, target: email}\n")
    with pytest.raises(MappingError, match="scope"):
        load_mapping(path)


def test_a_scope_blocks_the_objects_whose_segment_the_person_is_not_in() -> None:
    change = Change(table="people", row_id=7, seq=1, fields=frozenset({"lead_score"}), base={}, is_new=False,
                    changed_at={}, row={})
    scope = Scope({7: frozenset({"Contact"})})
    assert scope.blocks(change, MAPPINGS.get("Contact"))
    assert not scope.blocks(change, MAPPINGS.get("Lead"))
    assert not Scope().blocks(change, MAPPINGS.get("Contact"))
