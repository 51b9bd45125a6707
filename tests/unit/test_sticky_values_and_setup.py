"""`set_wins` (the hard bounce) in the mapping model and the write-back's decisions, and the
Tooling API metadata the set-up command sends for each mapped type."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_sync.mapping.model import FieldMap
from crm_sync.setup_fields import field_metadata
from crm_sync.writeback.rules import MISSING, NOTHING, RESTORE, WRITE, decide

BOUNCE = FieldMap(source="EmailBouncedDate", target="hard_bounced_at", type="timestamp", direction="both",
                  conflict="set_wins")


def test_set_wins_is_sticky_and_only_for_values() -> None:
    assert BOUNCE.is_sticky
    with pytest.raises(ValidationError, match="set_wins for the others"):
        FieldMap(source="HasOptedOutOfEmail", target="unsubscribed", type="boolean", direction="both",
                 conflict="set_wins")
    with pytest.raises(ValidationError, match="true_wins is for boolean fields"):
        FieldMap(source="EmailBouncedDate", target="hard_bounced_at", type="timestamp", direction="both",
                 conflict="true_wins")


def test_a_set_value_is_written_and_a_cleared_one_restored() -> None:
    assert decide(BOUNCE, current="2030-01-01T00:00:00.000Z", base=None).action == WRITE
    assert decide(BOUNCE, current=None, base="2030-01-01T00:00:00.000Z").action == RESTORE
    assert decide(BOUNCE, current=None, base=None).action == NOTHING
    assert decide(BOUNCE, current=None, base=MISSING).action == NOTHING


@pytest.mark.parametrize(("kind", "max_length", "expected"), [
    ("text", 80, {"type": "Text", "length": 80}),
    ("text", None, {"type": "Text", "length": 255}),
    ("text", 1000, {"type": "LongTextArea", "length": 1000, "visibleLines": 3}),
    ("numeric", None, {"type": "Number", "precision": 18, "scale": 2}),
    ("integer", None, {"type": "Number", "precision": 18, "scale": 0}),
    ("boolean", None, {"type": "Checkbox", "defaultValue": "false"}),
    ("date", None, {"type": "Date"}),
    ("timestamp", None, {"type": "DateTime"}),
])
def test_tooling_metadata_is_typed_from_the_mapping(kind: str, max_length: int | None, expected: dict) -> None:
    fm = FieldMap(source="Last_Touch_Channel__c", target="x", type=kind, max_length=max_length, direction="to_crm")
    assert field_metadata(fm) == {"label": "Last Touch Channel", **expected}
