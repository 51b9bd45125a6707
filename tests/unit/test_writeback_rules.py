"""Field ownership, conflict rules and value encoding of the write-back (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import FieldMap
from crm_sync.writeback.rules import (
    MISSING,
    NOTHING,
    RESTORE,
    WRITE,
    UnmappableValue,
    canonical,
    decide,
    derived_last_name,
    encode,
    from_salesforce,
    salesforce_datetime,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
STATUS = ValueMap("contact_status", (("1", "Subscriber"), ("2", "Prospect"), ("9", "Prospect")))


def field(**kw) -> FieldMap:
    return FieldMap(source=kw.pop("source", "Title"), target=kw.pop("target", "title"), **kw)


def test_salesforce_owned_fields_are_restored_never_written() -> None:
    assert decide(field(), current="x", base="y").action == RESTORE


@pytest.mark.parametrize("kw", [{"direction": "to_crm"}, {"direction": "both", "conflict": "marketing_wins"}])
def test_marketing_owned_and_marketing_wins_fields_are_written(kw) -> None:
    assert decide(field(**kw), current="x", base="y", salesforce="z").action == WRITE


@pytest.mark.parametrize(("current", "base", "action"), [
    ("true", "false", WRITE),      # an opt-out on the marketing side is written
    ("true", MISSING, WRITE),      # a new person who opted out
    ("false", "true", RESTORE),    # a "resubscribe" is resolved again from Salesforce (true wins)
    ("false", MISSING, NOTHING),   # a new person's default
])
def test_true_wins(current, base, action) -> None:
    unsubscribed = field(source="HasOptedOutOfEmail", target="unsubscribed", type="boolean", direction="both",
                         conflict="true_wins")
    assert decide(unsubscribed, current=current, base=base).action == action


CRM_WINS = field(direction="both", conflict="crm_wins")
LATEST_WINS = field(direction="both", conflict="latest_wins")


@pytest.mark.parametrize("rule", [CRM_WINS, LATEST_WINS])
def test_no_conflict_when_salesforce_did_not_change_the_field(rule) -> None:
    assert decide(rule, current="new", base="old", salesforce="old").action == WRITE
    assert decide(rule, current="same", base="old", salesforce="same").action == NOTHING


def test_crm_wins_keeps_salesforce_when_both_changed() -> None:
    decision = decide(CRM_WINS, current="marketing", base="old", salesforce="crm", changed_at=T0 + timedelta(hours=1),
                      salesforce_modstamp=T0)
    assert decision.action == RESTORE and decision.conflict.startswith("crm_wins")


def test_latest_wins_compares_the_marketing_change_with_the_record_modstamp() -> None:
    newer = decide(LATEST_WINS, current="m", base="old", salesforce="s", changed_at=T0 + timedelta(seconds=1),
                   salesforce_modstamp=T0)
    older = decide(LATEST_WINS, current="m", base="old", salesforce="s", changed_at=T0 - timedelta(seconds=1),
                   salesforce_modstamp=T0)
    assert (newer.action, newer.conflict) == (WRITE, "latest_wins: the marketing change is newer")
    assert (older.action, older.conflict) == (RESTORE, "latest_wins: the Salesforce change is newer")


def test_a_new_row_with_a_different_salesforce_value_is_a_conflict() -> None:
    assert decide(CRM_WINS, current="m", base=MISSING, salesforce="s").action == RESTORE


def test_a_record_that_could_not_be_read_is_written_and_reports_itself() -> None:
    assert decide(CRM_WINS, current="m", base="old").action == WRITE


@pytest.mark.parametrize(("kw", "value", "expected"), [
    ({"type": "boolean"}, True, "true"),
    ({"type": "boolean"}, False, "false"),
    ({"type": "numeric"}, Decimal("42.50"), "42.5"),
    ({"type": "numeric"}, Decimal("1E+2"), "100"),
    ({"type": "integer"}, 7, "7"),
    ({"type": "timestamp"}, datetime(2030, 1, 2, 4, 4, 5, 678901, tzinfo=UTC) + timedelta(hours=0), "2030-01-02T04:04:05.678Z"),
    ({"type": "date"}, date(2030, 1, 2), "2030-01-02"),
    ({}, "plain", "plain"),
    ({}, None, "#N/A"),
    ({}, "", "#N/A"),
])
def test_values_are_encoded_as_bulk_csv_cells(kw, value, expected) -> None:
    assert encode(value, field(**kw), {}) == expected


def test_value_maps_are_used_backwards_first_match_wins() -> None:
    status = field(source="Status__c", target="status", values="contact_status")
    assert encode("Prospect", status, {"contact_status": STATUS}) == "2"
    with pytest.raises(UnmappableValue, match="'Lapsed' is not a marketing value of value map 'contact_status'"):
        encode("Lapsed", status, {"contact_status": STATUS})


def test_salesforce_values_compare_in_marketing_terms() -> None:
    email = field(source="Email", target="email", transform="lower_trim")
    assert from_salesforce("  Ada@Example.ORG\u00a0", email, {}) == "ada@example.org"
    status = field(source="Status__c", target="status", values="contact_status")
    assert from_salesforce("1", status, {"contact_status": STATUS}) == "Subscriber"
    score = field(source="Lead_Score__c", target="lead_score", type="numeric")
    assert from_salesforce(42.0, score, {}) == canonical(Decimal("42"), score) == "42"
    visit = field(source="Last_Visit__c", target="last_visit_at", type="timestamp")
    assert from_salesforce("2030-01-02T03:04:05.678+0000", visit, {}) == canonical(
        datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), visit)
    assert from_salesforce(True, field(type="boolean"), {}) == "true"


def test_base_values_from_json_compare_like_typed_ones() -> None:
    visit = field(source="Last_Visit__c", target="last_visit_at", type="timestamp")
    assert canonical("2030-01-02T04:04:05.678+01:00", visit) == salesforce_datetime(
        datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    assert canonical(5.5, field(type="numeric")) == canonical(Decimal("5.50"), field(type="numeric"))


def test_a_lead_needs_a_last_name() -> None:
    assert derived_last_name("  Lovelace ", "ada@example.org") == "Lovelace"
    assert derived_last_name(None, "ada.l@example.org") == "ada.l"
    assert derived_last_name("", "@example.org") == "[not provided]"
