"""SOQL builder: half-open windows, system fields, filters, literal formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm_sync.mapping import load_mappings
from crm_sync.paths import INCLUDE_DIR
from crm_sync.salesforce.soql import (
    by_ids_queries,
    count_query,
    extract_fields,
    left_filter_condition,
    outside_filter_queries,
    select_query,
    soql_datetime,
    window_condition,
)

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def test_datetime_literal_is_utc_with_milliseconds() -> None:
    local = datetime(2024, 1, 2, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert soql_datetime(local) == "2024-01-02T10:30:00.123Z"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        soql_datetime(datetime(2024, 1, 2))


def test_fields_start_with_system_fields_and_lead_conversion() -> None:
    fields = extract_fields(MAPPINGS.get("Lead"))
    assert fields[:5] == ["Id", "SystemModstamp", "IsDeleted", "IsConverted", "ConvertedContactId"]
    assert "Email" in fields and len(fields) == len({f.lower() for f in fields})


def test_window_is_half_open_and_keeps_the_filter() -> None:
    mapping = MAPPINGS.get("Contact").model_copy(update={"filter": "Email != null"})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 1, 1, 1, tzinfo=UTC)
    condition = window_condition(mapping, start, end)
    assert condition == ("SystemModstamp >= 2024-01-01T00:00:00.000Z AND "
                         "SystemModstamp < 2024-01-01T01:00:00.000Z AND (Email != null)")
    assert select_query(mapping, ["Id", "Email"], condition).startswith("SELECT Id, Email FROM Contact WHERE ")
    assert count_query(mapping, None) == "SELECT COUNT() FROM Contact"


def test_initial_import_has_no_lower_bound() -> None:
    condition = window_condition(MAPPINGS.get("Account"), None, datetime(2024, 1, 1, tzinfo=UTC))
    assert condition == "SystemModstamp < 2024-01-01T00:00:00.000Z"


ID = "003000000000001AAA"


def test_merged_objects_read_the_master_of_a_deleted_loser() -> None:
    for name in ("Account", "Contact", "Lead"):
        assert "MasterRecordId" in extract_fields(MAPPINGS.get(name)), name
    for name in ("Campaign", "Opportunity"):
        assert "MasterRecordId" not in extract_fields(MAPPINGS.get(name)), name


def test_the_left_filter_query_negates_the_filter_over_live_records_of_the_window() -> None:
    mapping = MAPPINGS.get("Contact").model_copy(update={"filter": "Email != null"})
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert left_filter_condition(mapping, start, end) == (
        "SystemModstamp >= 2024-01-01T00:00:00.000Z AND SystemModstamp < 2024-01-01T01:00:00.000Z"
        " AND IsDeleted = false AND (NOT (Email != null))")
    with pytest.raises(ValueError, match="no filter"):
        left_filter_condition(MAPPINGS.get("Contact"), start, end)


def test_reads_by_id_can_honour_the_filter() -> None:
    mapping = MAPPINGS.get("Contact").model_copy(update={"filter": "Email != null"})
    [plain] = by_ids_queries(mapping, ["Id"], [ID])
    [filtered] = by_ids_queries(mapping, ["Id"], [ID], filtered=True)
    assert plain == f"SELECT Id FROM Contact WHERE Id IN ('{ID}')"
    assert filtered == f"SELECT Id FROM Contact WHERE Id IN ('{ID}') AND (Email != null)"
    assert list(outside_filter_queries(mapping, [ID] * 201)) == [
        f"SELECT Id FROM Contact WHERE Id IN ({', '.join([repr(ID)] * n)}) AND IsDeleted = false"
        " AND (NOT (Email != null))" for n in (200, 1)]
