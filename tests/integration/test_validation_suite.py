"""The expectation suite generated from the mappings: each rule, its level and its reason.

Pure: no database (a test proves building a suite opens no socket).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from typing import Any

import pytest

from crm_sync.mapping import load_mappings
from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import ColumnType, ObjectMapping
from crm_sync.paths import INCLUDE_DIR
from crm_sync.validation import SuiteError, build_suite, check_expectation_types, describe_suite, rule_of
from crm_sync.validation.reasons import render_reason
from crm_sync.validation.runner import batch_query
from crm_sync.validation.suite import (
    EMAIL_PATTERN,
    SF_ID_PATTERN,
    TYPE_PATTERNS,
    Rule,
    checksum_columns,
    typed_columns,
)


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings(INCLUDE_DIR / "mappings")


def _entries(mapping: ObjectMapping, mappings: MappingSet, *, skip: bool = False) -> list[tuple[str, dict, Rule]]:
    """(type, kwargs without meta, rule) for every expectation of the built suite."""
    suite = build_suite(mapping, mappings.value_maps, skip_null_match_key=skip)
    out = []
    for expectation in suite.expectations:
        config = expectation.configuration
        kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id"}}
        out.append((config.type, kwargs, rule_of(expectation)))
    return out


def _for_column(entries: list[tuple[str, dict, Rule]], column: str) -> list[tuple[str, dict, Rule]]:
    return [e for e in entries if e[1].get("column") == column]


def _with_extras(mapping: ObjectMapping, extras: list[dict[str, Any]]) -> ObjectMapping:
    return ObjectMapping.model_validate({**mapping.model_dump(mode="json"), "expectations": extras})


def _matches(pattern: str, value: str) -> bool:
    # PostgreSQL's `$` only matches at the very end; fullmatch gives Python the same meaning.
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None


# -- generated rules ---------------------------------------------------------------------------


def test_required_field_is_not_null_at_row_level(mappings: MappingSet) -> None:
    (entry,) = [e for e in _for_column(_entries(mappings.get("Contact"), mappings), "email")
                if e[2].kind == "required"]
    assert entry[0] == "expect_column_values_to_not_be_null"
    assert entry[2] == Rule("required", "row", "email: required value missing", "email")
    names = _entries(mappings.get("Account"), mappings)
    assert [r.reason for t, kw, r in _for_column(names, "name") if t.endswith("not_be_null")] == [
        "name: required value missing"]


def test_match_key_is_not_required_when_missing_keys_are_skipped(mappings: MappingSet) -> None:
    contact = mappings.get("Contact")
    skipped = _entries(contact, mappings, skip=True)
    assert not [e for e in _for_column(skipped, "email") if e[0] == "expect_column_values_to_not_be_null"]
    # the other checks of the match-key field stay
    assert {e[2].kind for e in _for_column(skipped, "email")} == {"email", "max_length"}
    # Opportunity matches by sf_id: its required fields stay required with the flag on
    opportunity = _entries(mappings.get("Opportunity"), mappings, skip=True)
    required = sorted(e[1]["column"] for e in opportunity if e[2].kind == "required")
    assert required == ["name", "stage"]


def test_email_check_is_a_regex_at_row_level(mappings: MappingSet) -> None:
    (entry,) = [e for e in _entries(mappings.get("Lead"), mappings) if e[2].kind == "email"]
    assert entry[0] == "expect_column_values_to_match_regex"
    assert entry[1]["column"] == "email" and entry[1]["regex"] == EMAIL_PATTERN
    assert entry[2] == Rule("email", "row", "email: not a valid email address", "email")


def test_value_map_is_a_set_of_salesforce_values(mappings: MappingSet) -> None:
    (entry,) = [e for e in _entries(mappings.get("Contact"), mappings) if e[2].kind == "value_map"]
    assert entry[0] == "expect_column_values_to_be_in_set"
    assert entry[1]["column"] == "status" and entry[1]["value_set"] == ["1", "2", "3", "4", "5"]
    assert entry[2].level == "row"
    assert entry[2].reason_for("9") == "status: value '9' not in value map contact_status"
    lead = [e for e in _entries(mappings.get("Lead"), mappings) if e[2].kind == "value_map"]
    assert {e[1]["column"]: e[1]["value_set"][0] for e in lead} == {"lead_stage": "Open - Not Contacted",
                                                                    "status": "1"}


def test_max_length_is_a_length_range(mappings: MappingSet) -> None:
    (entry,) = [e for e in _for_column(_entries(mappings.get("Contact"), mappings), "title")]
    assert entry[0] == "expect_column_value_lengths_to_be_between"
    assert (entry[1]["min_value"], entry[1]["max_value"]) == (0, 100)
    assert entry[2] == Rule("max_length", "row", "title: longer than 100 characters", "title")


@pytest.mark.parametrize(
    ("object_name", "column", "type_name"),
    [("Account", "annual_revenue", "numeric"), ("Account", "employees", "integer"),
     ("Campaign", "start_date", "date"), ("Campaign", "is_active", "boolean"),
     ("Contact", "last_visit_at", "timestamp")],
)
def test_typed_fields_must_be_castable(mappings: MappingSet, object_name: str, column: str, type_name: str) -> None:
    (entry,) = _for_column(_entries(mappings.get(object_name), mappings), column)
    assert entry[0] == "expect_column_values_to_match_regex"
    assert entry[1]["regex"] == TYPE_PATTERNS[ColumnType(type_name)]
    assert entry[2] == Rule("type", "row", f"{column}: not a valid {type_name}", column)


def test_plain_text_fields_get_no_checks(mappings: MappingSet) -> None:
    entries = _entries(mappings.get("Contact"), mappings)
    assert _for_column(entries, "city") == []
    assert [e[2].kind for e in _for_column(entries, "first_name")] == ["max_length"]


def test_every_suite_checks_ids_per_row_and_the_modstamp_per_batch(mappings: MappingSet) -> None:
    for mapping in mappings.objects:
        for skip in (False, True):
            entries = _entries(mapping, mappings, skip=skip)
            first = [(t, kw.get("column"), kw.get("regex"), r.level, r.reason) for t, kw, r in entries[:4]]
            assert first == [
                ("expect_column_values_to_not_be_null", "sf_id", None, "row", "Id: missing"),
                ("expect_column_values_to_match_regex", "sf_id", SF_ID_PATTERN, "row",
                 "Id: '{value}' is not an 18-character Salesforce Id"),
                ("expect_column_values_to_be_null", "sf_id__bad_checksum", None, "row",
                 "Id: '{value}' fails the Salesforce Id checksum"),
                ("expect_column_values_to_not_be_null", "system_modstamp", None, "batch", "system_modstamp: missing"),
            ]
            assert all(r.level == "row" for _, _, r in entries[4:]), mapping.object


def test_reference_columns_get_the_id_checks(mappings: MappingSet) -> None:
    suite = build_suite(mappings.get("Contact"), mappings.value_maps, skip_null_match_key=True,
                        reference_columns=["account_sf_id"])
    checks = [(t, kw.get("column"), r.reason, r.column) for t, kw, r in (
        (e.expectation_type, e.configuration.kwargs, rule_of(e)) for e in suite.expectations)
        if r.column and r.column.startswith("account_sf_id")]
    assert checks == [
        ("expect_column_values_to_match_regex", "account_sf_id",
         "account_sf_id: '{value}' is not an 18-character Salesforce Id", "account_sf_id"),
        ("expect_column_values_to_be_null", "account_sf_id__bad_checksum",
         "account_sf_id: '{value}' fails the Salesforce Id checksum", "account_sf_id__bad_checksum"),
    ]
    assert [alias for alias, _, _ in checksum_columns(["account_sf_id"])] == [
        "sf_id__bad_checksum", "account_sf_id__bad_checksum"]


def test_suite_of_contact_in_full(mappings: MappingSet) -> None:
    described = [(t, r.reason) for t, r in describe_suite(
        build_suite(mappings.get("Contact"), mappings.value_maps, skip_null_match_key=False))]
    assert described[4:] == [
        ("expect_column_values_to_not_be_null", "email: required value missing"),
        ("expect_column_value_lengths_to_be_between", "email: longer than 254 characters"),
        ("expect_column_values_to_match_regex", "email: not a valid email address"),
        ("expect_column_value_lengths_to_be_between", "first_name: longer than 40 characters"),
        ("expect_column_value_lengths_to_be_between", "last_name: longer than 80 characters"),
        ("expect_column_value_lengths_to_be_between", "phone: longer than 40 characters"),
        ("expect_column_value_lengths_to_be_between", "title: longer than 100 characters"),
        ("expect_column_values_to_be_in_set", "status: value '{value}' not in value map contact_status"),
        ("expect_column_values_to_match_regex", "unsubscribed: not a valid boolean"),
        ("expect_column_values_to_match_regex", "lead_score: not a valid numeric"),
        ("expect_column_values_to_match_regex", "last_visit_at: not a valid timestamp"),
        ("expect_column_values_to_match_regex", "hard_bounced_at: not a valid timestamp"),
        ("expect_column_value_lengths_to_be_between", "bounce_reason: longer than 255 characters"),
        ("expect_column_value_lengths_to_be_between", "first_touch_channel: longer than 80 characters"),
        ("expect_column_value_lengths_to_be_between", "first_touch_source: longer than 255 characters"),
        ("expect_column_value_lengths_to_be_between", "last_touch_channel: longer than 80 characters"),
        ("expect_column_value_lengths_to_be_between", "last_touch_source: longer than 255 characters"),
        ("expect_column_values_to_match_regex", "last_activity_at: not a valid timestamp"),
    ]


def test_building_a_suite_touches_no_network(mappings: MappingSet, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("build_suite opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for mapping in mappings.objects:
        assert build_suite(mapping, mappings.value_maps, skip_null_match_key=True).expectations


def test_missing_value_map_is_an_error(mappings: MappingSet) -> None:
    with pytest.raises(SuiteError, match=r"Contact: field Status__c: value map 'contact_status' not loaded"):
        build_suite(mappings.get("Contact"), {}, skip_null_match_key=True)


# -- hand-written expectations --------------------------------------------------------------------


def test_hand_written_expectations_are_added_at_their_level(mappings: MappingSet) -> None:
    mapping = _with_extras(mappings.get("Contact"), [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "lead_score", "min_value": 0}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "level": "batch"},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "email"}},
    ])
    suite = build_suite(mapping, mappings.value_maps, skip_null_match_key=True)
    extras = suite.expectations[-3:]
    assert [type(e).__name__ for e in extras] == [
        "ExpectColumnValuesToBeBetween", "ExpectTableRowCountToBeBetween", "ExpectColumnValuesToBeUnique"]
    # a comparison on a numeric field reads its typed companion column
    assert extras[0].column == "lead_score__typed" and extras[0].min_value == 0
    assert extras[2].column == "email"
    assert [rule_of(e) for e in extras] == [
        Rule("custom", "row", "lead_score: expect_column_values_to_be_between failed", "lead_score"),
        Rule("custom", "batch", "expect_table_row_count_to_be_between failed", None),
        Rule("custom", "row", "email: expect_column_values_to_be_unique failed", "email"),
    ]
    assert typed_columns(mapping) == [
        ("lead_score__typed", "lead_score", "numeric", TYPE_PATTERNS[ColumnType.NUMERIC])]


def test_text_reading_expectations_keep_the_text_column(mappings: MappingSet) -> None:
    mapping = _with_extras(mappings.get("Contact"), [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "lead_score", "regex": "^[0-9]"}},
    ])
    suite = build_suite(mapping, mappings.value_maps, skip_null_match_key=True)
    assert suite.expectations[-1].column == "lead_score"
    assert typed_columns(mapping) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"type": "expect_column_values_to_be_purple", "kwargs": {"column": "email"}},
         "Contact: unknown expectation type 'expect_column_values_to_be_purple'"),
        ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "lead_score", "minimum": 0}},
         "Contact: expectation expect_column_values_to_be_between: invalid kwargs"),
        ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "score", "min_value": 0}},
         "Contact: expectation expect_column_values_to_be_between: column 'score' is not a mapped field"),
        ({"type": "expect_column_mean_to_be_between", "kwargs": {"column": "lead_score", "min_value": 0}},
         "Contact: expectation expect_column_mean_to_be_between cannot name failing rows; set level: batch"),
    ],
)
def test_bad_hand_written_expectations_fail_naming_object_and_type(
    mappings: MappingSet, extra: dict[str, Any], message: str
) -> None:
    mapping = _with_extras(mappings.get("Contact"), [extra])
    with pytest.raises(SuiteError, match=re.escape(message)):
        build_suite(mapping, mappings.value_maps, skip_null_match_key=True)


def test_aggregate_expectation_at_batch_level_builds(mappings: MappingSet) -> None:
    mapping = _with_extras(mappings.get("Contact"), [
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "lead_score", "min_value": 0},
         "level": "batch"}])
    suite = build_suite(mapping, mappings.value_maps, skip_null_match_key=True)
    assert rule_of(suite.expectations[-1]).level == "batch"


def test_type_names_are_checked_without_great_expectations(mappings: MappingSet) -> None:
    good = _with_extras(mappings.get("Lead"), [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "lead_score", "min_value": 0}}])
    check_expectation_types(good)
    bad = _with_extras(mappings.get("Lead"), [{"type": "expect_nothing_at_all", "kwargs": {}}])
    with pytest.raises(SuiteError, match="Lead: unknown expectation type 'expect_nothing_at_all'"):
        check_expectation_types(bad)


def test_rule_of_a_foreign_expectation_is_a_key_error(mappings: MappingSet) -> None:
    import great_expectations.expectations as gxe

    with pytest.raises(KeyError):
        rule_of(gxe.ExpectColumnValuesToNotBeNull(column="x"))
    rule = Rule("value_map", "row", "status: value '{value}' not in value map m", "status")
    assert Rule.from_meta(rule.to_meta()) == rule


# -- patterns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "good", "bad"),
    [
        ("integer", ["0", "42", "-7", "+3", "2147483647", "1200.0", "007"],
         ["2147483648", "9999999999", "1.5", "1e3", "abc", "", " 1", "1,000"]),
        ("numeric", ["0", "12.5", "-0.25", ".5", "1.", "9.9213206E7", "1.0E7", "1e-5", "+3E+2"],
         ["abc", "1,5", "NaN", "Infinity", "1e", "1e100", "E7", ".", "1.2.3", "--1"]),
        ("boolean", ["true", "false", "TRUE", "False"], ["yes", "1", "t", "truee", ""]),
        ("timestamp", ["2024-01-02T10:00:00.000+0000", "2024-01-02T10:00:00.000Z", "2024-02-29T23:59:59Z",
                       "2024-01-02 10:00:00", "2024-01-02T10:00", "2024-01-02T10:00:00.123456789+05:30"],
         ["2023-02-29T10:00:00Z", "2024-01-02", "2024-01-02T25:00:00Z", "2024-13-02T10:00:00Z",
          "2024-01-02T10:00:00+2500", "yesterday", "2024-01-02T10:00:00.000+0000 "]),
    ],
)
def test_type_patterns(type_name: str, good: list[str], bad: list[str]) -> None:
    pattern = TYPE_PATTERNS[ColumnType(type_name)]
    assert [v for v in good if not _matches(pattern, v)] == []
    assert [v for v in bad if _matches(pattern, v)] == []


def test_integer_pattern_is_exactly_the_integer_range() -> None:
    pattern = TYPE_PATTERNS[ColumnType.INTEGER]
    for number in [0, 9, 10, 999_999_999, 1_000_000_000, 1_999_999_999, 2_099_999_999, 2_147_483_639,
                   2_147_483_640, 2_147_483_646, 2_147_483_647, 2_147_483_648, 2_147_483_650, 2_147_484_000,
                   2_148_000_000, 3_000_000_000, 10_000_000_000]:
        assert _matches(pattern, str(number)) == (number <= 2_147_483_647), number


def test_date_pattern_accepts_exactly_the_real_dates() -> None:
    pattern = TYPE_PATTERNS[ColumnType.DATE]
    for year in (1, 4, 100, 400, 1600, 1700, 1900, 2000, 2023, 2024, 2100, 2400, 9999):
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    dt.date(year, month, day)
                    real = True
                except ValueError:
                    real = False
                assert _matches(pattern, text) == real, text
    assert not _matches(pattern, "0000-01-01")  # PostgreSQL has no year 0
    assert not _matches(pattern, "2024-1-2")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a@b.co", True), ("first.last+tag@sub.example.org", True), ("o'brien@example.com", True),
     ("user_1@example-mail.de", True), ("not-an-email", False), ("a@b", False), ("a@@b.com", False),
     ("a b@c.com", False), (".a@b.com", False), ("a..b@c.com", False), ("a.@b.com", False),
     ("a@-b.com", False), ("a@b-.com", False), ("a@b.c", False), ("a@b.c0m", False), ("@b.com", False)],
)
def test_email_pattern(value: str, ok: bool) -> None:
    assert _matches(EMAIL_PATTERN, value) == ok


def test_sf_id_pattern() -> None:
    assert _matches(SF_ID_PATTERN, "0035g00000AbCdEfGh")
    assert not _matches(SF_ID_PATTERN, "0035g00000AbCdE")  # 15-character form
    assert not _matches(SF_ID_PATTERN, "0035g00000AbCdEf-h")


def test_patterns_hold_no_bind_parameter_lookalikes() -> None:
    # The patterns end up in query text that SQLAlchemy's text() parses for `:name`.
    checksums = [expression for _, _, expression in checksum_columns(["account_sf_id"])]
    for pattern in [*TYPE_PATTERNS.values(), EMAIL_PATTERN, SF_ID_PATTERN, *checksums]:
        assert re.search(r"(?<![:\w]):\w", pattern) is None, pattern


# -- reasons and the batch query --------------------------------------------------------------------


def test_reason_rendering_keeps_values_short_and_on_one_line() -> None:
    template = "status: value '{value}' not in value map m"
    assert render_reason(template, "9") == "status: value '9' not in value map m"
    assert render_reason(template, "a{b}\nc") == "status: value 'a{b}\\nc' not in value map m"
    long = render_reason(template, "x" * 100)
    assert long == "status: value '" + "x" * 39 + "…' not in value map m"
    assert render_reason("title: longer than 100 characters", "zzz") == "title: longer than 100 characters"
    assert Rule("value_map", "row", template, "status").summary == "status: value not in value map m"


def test_batch_query_refuses_what_sqlalchemy_would_take_for_a_bind_parameter() -> None:
    assert batch_query("SELECT a::text, '10:00:00' AS t, b[1:2] FROM t") == (
        "SELECT a::text, '10:00:00' AS t, b[1:2] FROM t")
    with pytest.raises(ValueError, match="':y'"):
        batch_query("SELECT a FROM t WHERE b = 'x :y'")


def test_batch_query_passes_selects_and_wraps_the_rest() -> None:
    assert batch_query("  SELECT a FROM t;  ") == "SELECT a FROM t"
    assert batch_query("WITH x AS (SELECT 1 AS a) SELECT a FROM x") == (
        "SELECT * FROM (\nWITH x AS (SELECT 1 AS a) SELECT a FROM x\n) AS staged_batch")
    typed = batch_query("SELECT row_id, lead_score FROM t",
                        [("lead_score__typed", "lead_score", "numeric", "^[0-9]+$")])
    assert typed == (
        'SELECT "staged_batch".*, CASE WHEN "staged_batch"."lead_score" ~ \'^[0-9]+$\' '
        'THEN "staged_batch"."lead_score"::numeric END AS "lead_score__typed" '
        'FROM (\nSELECT row_id, lead_score FROM t\n) AS "staged_batch"'
    )
