"""Validating staged batches in a real PostgreSQL: the failing rows, their reasons, batch failures.

Each test stages its own batch in a table of the shape the pipeline validates (``row_id``,
``sf_id``, ``system_modstamp`` and a JSON payload) and validates a query that projects one
text column per mapped field, as the transform does.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from crm_sync.mapping import load_mappings
from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import ColumnType, ObjectMapping, Transform
from crm_sync.paths import INCLUDE_DIR
from crm_sync.salesforce.ids import checksum, checksum_sql, to_18
from crm_sync.validation import build_suite, validate_batch
from crm_sync.validation.suite import EMAIL_PATTERN, TYPE_PATTERNS

DATABASE = "validation_it"
MODSTAMP = "2024-01-02T10:00:00Z"
GOOD = {
    "Email": "ann@example.com", "FirstName": "Ann", "LastName": "Lee", "Title": "CTO", "Status__c": "2",
    "HasOptedOutOfEmail": "false", "Lead_Score__c": "12.5", "Last_Visit__c": "2024-01-02T10:00:00.000+0000",
}


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings(INCLUDE_DIR / "mappings")


@pytest.fixture(scope="module")
def warehouse(pg_server: Any) -> Iterator[str]:
    """A fresh database with a staging table; yields its libpq DSN."""
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    pg_server.ensure_database(DATABASE)
    dsn = pg_server.dsn(DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE staged (row_id bigserial PRIMARY KEY, batch text NOT NULL, sf_id text,"
            " system_modstamp timestamptz, payload jsonb NOT NULL)"
        )
        conn.execute("CREATE INDEX ON staged (batch)")
    yield dsn


def _gx_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1)


def _sf_id(n: int) -> str:
    return to_18(f"003{n:012d}")


def _stage(dsn: str, rows: dict[str, dict[str, Any]]) -> tuple[str, dict[str, int]]:
    """Stage labelled rows as one new batch; returns the batch name and row ids by label.

    A row is its payload, with optional ``_sf_id`` / ``_modstamp`` overrides (``None`` allowed).
    """
    batch = uuid.uuid4().hex
    ids: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        for n, (label, row) in enumerate(rows.items()):
            payload = {k: v for k, v in row.items() if not k.startswith("_")}
            ids[label] = conn.execute(
                "INSERT INTO staged (batch, sf_id, system_modstamp, payload) VALUES (%s, %s, %s, %s)"
                " RETURNING row_id",
                (batch, row.get("_sf_id", _sf_id(n)), row.get("_modstamp", MODSTAMP), json.dumps(payload)),
            ).fetchone()[0]
    return batch, ids


_TRANSFORMS = {Transform.TRIM: "btrim({})", Transform.LOWER_TRIM: "lower(btrim({}))",
               Transform.UPPER_TRIM: "upper(btrim({}))", Transform.NONE: "{}"}


def _query(mapping: ObjectMapping, batch: str) -> str:
    """The validated shape: row_id, sf_id, system_modstamp, one transformed text column per field."""
    columns = [sql.SQL("row_id"), sql.SQL("sf_id"), sql.SQL("system_modstamp")]
    for field in mapping.fields:
        raw = sql.SQL("payload ->> {}").format(sql.Literal(field.source))
        text = sql.SQL(_TRANSFORMS[field.transform]).format(raw)
        columns.append(sql.SQL("NULLIF({}, '') AS {}").format(text, sql.Identifier(field.target)))
    query = sql.SQL("SELECT {} FROM staged WHERE batch = {} ORDER BY row_id").format(
        sql.SQL(", ").join(columns), sql.Literal(batch))
    return query.as_string(None)


def _validate(dsn: str, mapping: ObjectMapping, mappings: MappingSet, batch: str, *, skip: bool = False,
              url: str | None = None) -> Any:
    return validate_batch(mapping, mappings.value_maps, connection_string=url or _gx_url(dsn),
                          query=_query(mapping, batch), skip_null_match_key=skip)


def _with_extras(mapping: ObjectMapping, extras: list[dict[str, Any]]) -> ObjectMapping:
    return ObjectMapping.model_validate({**mapping.model_dump(mode="json"), "expectations": extras})


# One row per rule (and a few that must pass), for the Contact mapping.
CONTACT_ROWS: dict[str, dict[str, Any]] = {
    "good": GOOD,
    "sparse": {"Email": "bo@example.org"},
    "empty_strings": {**GOOD, "Title": "", "Status__c": "", "FirstName": "   ", "Lead_Score__c": ""},
    "scientific": {**GOOD, "Email": "  Ann.Lee@Example.COM ", "Lead_Score__c": "9.9213206E7",
                   "Last_Visit__c": "2024-01-02T10:00:00.000Z"},
    "title_at_limit": {**GOOD, "Title": "t" * 100},
    "no_email": {**GOOD, "Email": None},
    "bad_email": {**GOOD, "Email": "not-an-email"},
    "bad_status": {**GOOD, "Status__c": "9"},
    "long_title": {**GOOD, "Title": "t" * 101},
    "long_first_name": {**GOOD, "FirstName": "f" * 41},
    "bad_score": {**GOOD, "Lead_Score__c": "abc"},
    "bad_boolean": {**GOOD, "HasOptedOutOfEmail": "maybe"},
    "bad_timestamp": {**GOOD, "Last_Visit__c": "2024-02-30T10:00:00Z"},
    "two_problems": {**GOOD, "Email": "x@y", "Status__c": "0"},
}
CONTACT_FAILURES = {
    "no_email": ["email: required value missing"],
    "bad_email": ["email: not a valid email address"],
    "bad_status": ["status: value '9' not in value map contact_status"],
    "long_title": ["title: longer than 100 characters"],
    "long_first_name": ["first_name: longer than 40 characters"],
    "bad_score": ["lead_score: not a valid numeric"],
    "bad_boolean": ["unsubscribed: not a valid boolean"],
    "bad_timestamp": ["last_visit_at: not a valid timestamp"],
    "two_problems": ["email: not a valid email address", "status: value '0' not in value map contact_status"],
}


def test_failing_rows_are_named_with_their_reasons(warehouse: str, mappings: MappingSet) -> None:
    contact = mappings.get("Contact")
    batch, ids = _stage(warehouse, CONTACT_ROWS)
    outcome = _validate(warehouse, contact, mappings, batch, skip=False)
    assert outcome.row_failures == {ids[label]: reasons for label, reasons in CONTACT_FAILURES.items()}
    assert outcome.batch_failures == []
    assert outcome.success
    assert outcome.evaluated == len(CONTACT_ROWS)
    assert outcome.expectations_run == len(
        build_suite(contact, mappings.value_maps, skip_null_match_key=False).expectations)


def test_a_batch_named_in_slices_hands_over_each_failing_row_once(warehouse: str, mappings: MappingSet) -> None:
    """Above the slice size the failing rows come slice by slice, and are the same rows and reasons."""
    contact = mappings.get("Contact")
    batch, ids = _stage(warehouse, CONTACT_ROWS)
    handed: list[dict[int, list[str]]] = []
    outcome = validate_batch(contact, mappings.value_maps, connection_string=_gx_url(warehouse),
                             query=_query(contact, batch), skip_null_match_key=False,
                             on_row_failures=handed.append, slice_rows=4)
    assert len(handed) == -(-len(CONTACT_ROWS) // 4)
    assert [row_id for part in handed for row_id in part] == sorted({row_id for part in handed for row_id in part})
    assert {row_id: reasons for part in handed for row_id, reasons in part.items()} == {
        ids[label]: reasons for label, reasons in CONTACT_FAILURES.items()}
    assert (outcome.row_failures, outcome.failing_rows, outcome.evaluated) == ({}, len(CONTACT_FAILURES),
                                                                              len(CONTACT_ROWS))
    assert outcome.batch_failures == []
    with psycopg.connect(warehouse) as conn:  # the slices' views went with the batch table
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'crm_gx_batch_%'").fetchone() == (0,)


def test_records_without_match_key_are_not_failures_when_skipped(warehouse: str, mappings: MappingSet) -> None:
    batch, ids = _stage(warehouse, CONTACT_ROWS)
    outcome = _validate(warehouse, mappings.get("Contact"), mappings, batch, skip=True)
    expected = {ids[label]: reasons for label, reasons in CONTACT_FAILURES.items() if label != "no_email"}
    assert outcome.row_failures == expected
    assert outcome.success


def test_malformed_ids_are_row_failures_naming_the_id(warehouse: str, mappings: MappingSet) -> None:
    account = to_18("001000000000001")
    bad_checksum = "0035g00000AbCdE" + ("AAA" if checksum("0035g00000AbCdE") != "AAA" else "BBB")
    batch, ids = _stage(warehouse, {
        "good": {**GOOD, "AccountId": account},
        "lower_case_suffix": {**GOOD, "_sf_id": to_18("0035g00000AbCdE")[:15] + to_18("0035g00000AbCdE")[15:].lower()},
        "no_id": {**GOOD, "_sf_id": None},
        "short_id": {**GOOD, "_sf_id": "003000000000001"},
        "seventeen": {**GOOD, "_sf_id": "00300000000000100"},
        "bad_characters": {**GOOD, "_sf_id": "003000000000-01AAA"},
        "bad_checksum": {**GOOD, "_sf_id": bad_checksum},
        "bad_reference": {**GOOD, "AccountId": "001000000000001"},
        "bad_reference_checksum": {**GOOD, "AccountId": account[:15] + "ZZZ"},
        "bad_status": {**GOOD, "Status__c": "7"},
    })
    contact = mappings.get("Contact")
    outcome = validate_batch(contact, mappings.value_maps, connection_string=_gx_url(warehouse),
                             query=_query(contact, batch), skip_null_match_key=True,
                             reference_columns=["account_sf_id"])
    assert outcome.success and outcome.batch_failures == []
    assert outcome.row_failures == {
        ids["no_id"]: ["Id: missing"],
        ids["short_id"]: ["Id: '003000000000001' is not an 18-character Salesforce Id"],
        ids["seventeen"]: ["Id: '00300000000000100' is not an 18-character Salesforce Id"],
        ids["bad_characters"]: ["Id: '003000000000-01AAA' is not an 18-character Salesforce Id"],
        ids["bad_checksum"]: [f"Id: '{bad_checksum}' fails the Salesforce Id checksum"],
        ids["bad_reference"]: ["account_sf_id: '001000000000001' is not an 18-character Salesforce Id"],
        ids["bad_reference_checksum"]: [f"account_sf_id: '{account[:15]}ZZZ' fails the Salesforce Id checksum"],
        ids["bad_status"]: ["status: value '7' not in value map contact_status"],
    }
    assert outcome.evaluated == 10


def test_a_missing_modstamp_still_fails_the_batch(warehouse: str, mappings: MappingSet) -> None:
    batch, ids = _stage(warehouse, {"good": GOOD, "no_modstamp": {**GOOD, "_modstamp": None}})
    outcome = _validate(warehouse, mappings.get("Contact"), mappings, batch, skip=True)
    assert not outcome.success
    assert outcome.batch_failures == ["system_modstamp: missing"]
    assert outcome.row_failures == {}


def test_the_sql_checksum_is_the_python_checksum(warehouse: str) -> None:
    """`ids.checksum_sql` computes `ids.checksum` in PostgreSQL, for every chunk pattern."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    samples = ["".join(alphabet[(i * 7 + j * 13 + i * j) % len(alphabet)] for j in range(15)) for i in range(500)]
    samples += ["".join("A" if bits >> (j % 5) & 1 else "a" for j in range(15)) for bits in range(32)]
    with psycopg.connect(warehouse, autocommit=True) as conn:
        computed = conn.execute(sql.SQL("SELECT {} FROM unnest(%s::text[]) WITH ORDINALITY AS u(id, i) ORDER BY i")
                                .format(sql.SQL(checksum_sql("id"))), (samples,)).fetchall()
    assert [value for (value,) in computed] == [checksum(sample) for sample in samples]


def test_empty_batch_validates_cleanly(warehouse: str, mappings: MappingSet) -> None:
    for mapping in mappings.objects:
        outcome = _validate(warehouse, mapping, mappings, "no-such-batch", skip=True)
        assert (outcome.evaluated, outcome.row_failures, outcome.batch_failures) == (0, {}, []), mapping.object
        assert outcome.success and outcome.expectations_run > 3


def test_typed_fields_of_other_objects(warehouse: str, mappings: MappingSet) -> None:
    campaign = mappings.get("Campaign")
    good = {"Name": "Spring", "StartDate": "2024-02-29", "IsActive": "true", "BudgetedCost": "1.5E4"}
    batch, ids = _stage(warehouse, {
        "good": good,
        "bad_date": {**good, "StartDate": "2023-02-29"},
        "bad_cost": {**good, "BudgetedCost": "12,5"},
        "no_name": {**good, "Name": "  "},
    })
    outcome = _validate(warehouse, campaign, mappings, batch, skip=True)
    assert outcome.row_failures == {
        ids["bad_date"]: ["start_date: not a valid date"],
        ids["bad_cost"]: ["budgeted_cost: not a valid numeric"],
        ids["no_name"]: ["name: required value missing"],
    }


def test_hand_written_expectations(warehouse: str, mappings: MappingSet) -> None:
    contact = _with_extras(mappings.get("Contact"), [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "lead_score", "min_value": 0}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "email"}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "level": "batch"},
    ])
    batch, ids = _stage(warehouse, {
        "good": GOOD,
        "negative": {**GOOD, "Email": "neg@example.com", "Lead_Score__c": "-5"},
        "large": {**GOOD, "Email": "big@example.com", "Lead_Score__c": "1.0E7"},
        "not_a_number": {**GOOD, "Email": "nan@example.com", "Lead_Score__c": "abc"},
        "duplicate": {**GOOD, "Email": "ANN@example.com "},
    })
    outcome = _validate(warehouse, contact, mappings, batch, skip=True)
    assert outcome.row_failures == {
        ids["good"]: ["email: expect_column_values_to_be_unique failed"],
        ids["duplicate"]: ["email: expect_column_values_to_be_unique failed"],
        ids["negative"]: ["lead_score: expect_column_values_to_be_between failed"],
        # not castable: reported by the type rule only (its typed value is NULL)
        ids["not_a_number"]: ["lead_score: not a valid numeric"],
    }
    assert outcome.success

    empty = _validate(warehouse, contact, mappings, "no-such-batch", skip=True)
    assert empty.batch_failures == ["expect_table_row_count_to_be_between failed"]
    assert not empty.success


def test_row_level_expectation_within_mostly_still_names_its_failing_rows(warehouse: str,
                                                                          mappings: MappingSet) -> None:
    # The first pass only says pass/fail; an expectation that passes thanks to `mostly`
    # still has failing rows to quarantine, so the second pass must run it.
    contact = _with_extras(mappings.get("Contact"), [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "lead_score", "min_value": 0, "mostly": 0.5}},
    ])
    batch, ids = _stage(warehouse, {
        "good": GOOD,
        "also_good": {**GOOD, "Email": "also@example.com", "Lead_Score__c": "3"},
        "negative": {**GOOD, "Email": "neg@example.com", "Lead_Score__c": "-5"},
    })
    outcome = _validate(warehouse, contact, mappings, batch, skip=True)
    assert outcome.row_failures == {ids["negative"]: ["lead_score: expect_column_values_to_be_between failed"]}
    assert outcome.evaluated == 3
    assert outcome.success


def test_expectation_that_cannot_run_fails_the_batch(warehouse: str, mappings: MappingSet) -> None:
    contact = mappings.get("Contact")
    batch, _ = _stage(warehouse, {"good": GOOD})
    query = _query(contact, batch).replace(' AS "title"', ' AS "job_title"')
    outcome = validate_batch(contact, mappings.value_maps, connection_string=_gx_url(warehouse), query=query,
                             skip_null_match_key=True)
    assert not outcome.success
    assert len(outcome.batch_failures) == 1
    assert outcome.batch_failures[0].startswith("title: longer than 100 characters (could not be evaluated: ")


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+psycopg2", "postgresql+psycopg"])
def test_connection_string_forms(warehouse: str, mappings: MappingSet, driver: str) -> None:
    batch, ids = _stage(warehouse, {"good": GOOD, "bad": {**GOOD, "Status__c": "x"}})
    url = warehouse.replace("postgresql://", f"{driver}://", 1)
    outcome = _validate(warehouse, mappings.get("Contact"), mappings, batch, skip=True, url=url)
    assert outcome.row_failures == {ids["bad"]: ["status: value 'x' not in value map contact_status"]}


def test_queries_with_ctes_percent_signs_and_colons(warehouse: str, mappings: MappingSet) -> None:
    contact = mappings.get("Contact")
    batch, ids = _stage(warehouse, {"good": GOOD, "bad": {**GOOD, "Email": "nope"}})
    inner = _query(contact, batch).replace(" ORDER BY row_id", "")
    query = (f"WITH b AS ({inner}) SELECT * FROM b"
             " WHERE sf_id LIKE '003%' AND 'at 10:00:00' <> 'x:y';")
    outcome = validate_batch(contact, mappings.value_maps, connection_string=_gx_url(warehouse), query=query,
                             skip_null_match_key=True)
    assert outcome.row_failures == {ids["bad"]: ["email: not a valid email address"]}


def test_great_expectations_logs_are_kept_quiet(warehouse: str, mappings: MappingSet,
                                               caplog: pytest.LogCaptureFixture) -> None:
    batch, _ = _stage(warehouse, {"good": GOOD})
    with caplog.at_level(logging.DEBUG):
        _validate(warehouse, mappings.get("Contact"), mappings, batch, skip=True)
    noisy = [r for r in caplog.records if r.name.startswith("great_expectations") and r.levelno < logging.WARNING]
    assert noisy == []
    assert any(r.name == "crm_sync.validation.runner" and "validated Contact" in r.getMessage()
               for r in caplog.records)


# -- the patterns mean "castable" in PostgreSQL ----------------------------------------------------

# How the transform casts each type (integer goes through numeric, so "12.0" is fine).
CASTS = {ColumnType.INTEGER: "::numeric::integer", ColumnType.NUMERIC: "::numeric",
         ColumnType.BOOLEAN: "::boolean", ColumnType.DATE: "::date", ColumnType.TIMESTAMP: "::timestamptz"}
CANDIDATES = [
    "0", "42", "-7", "+3", "007", "12.0", "12.5", "1.", ".5", "9.9213206E7", "1.0E7", "1e-5", "1e99", "1e100",
    "2147483647", "2147483648", "-2147483647", "99999999999", "NaN", "Infinity", "abc", "1,5", "", " 1",
    "true", "false", "TRUE", "False", "t", "yes", "1",
    "2024-01-02", "2024-02-29", "2023-02-29", "2024-02-30", "2024-13-01", "0000-01-01", "0001-01-01", "9999-12-31",
    "2024-01-02T10:00:00.000+0000", "2024-01-02T10:00:00.000Z", "2024-01-02 10:00", "2024-01-02T10:00:00+05",
    "2024-01-02T10:00:00.123456789+05:30", "2024-01-02T10:00:00.12345678901234Z", "2024-01-02T24:00:00Z", "2024-01-02T10:61:00Z",
    "2024-01-02T10:00:00+2500", "2024-01-02T",
]


def test_type_patterns_only_accept_castable_text(warehouse: str) -> None:
    with psycopg.connect(warehouse, autocommit=True) as conn:
        for column_type, pattern in TYPE_PATTERNS.items():
            matched = dict(conn.execute(
                "SELECT v, v ~ %s FROM unnest(%s::text[]) AS v", (pattern, CANDIDATES)).fetchall())
            python = {v: re.fullmatch(pattern[1:-1], v) is not None for v in CANDIDATES}
            assert matched == python, column_type  # the same meaning in both engines
            for value in (v for v in CANDIDATES if matched[v]):
                try:
                    conn.execute(sql.SQL("SELECT %s::text{}").format(sql.SQL(CASTS[column_type])), (value,))
                except psycopg.Error as exc:
                    pytest.fail(f"{column_type}: {value!r} matches the pattern but does not cast: {exc}")
        emails = conn.execute("SELECT v ~ %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
                              (EMAIL_PATTERN, ["a@b.co", "o'brien@example.com", "nope", "a@b"])).fetchall()
        assert [ok for (ok,) in emails] == [True, True, False, False]


# -- scale --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_thousand_rows(warehouse: str, mappings: MappingSet) -> None:
    """Every failing row is named (far more than GX's default cut of 20), in seconds."""
    n = 20_000
    batch = uuid.uuid4().hex
    with psycopg.connect(warehouse) as conn:
        conn.execute(
            """
            INSERT INTO staged (batch, sf_id, system_modstamp, payload)
            SELECT %(batch)s, '003' || lpad(i::text, 12, '0') || 'AAA', now(), jsonb_build_object(
                'Email', CASE WHEN i %% 97 = 0 THEN 'broken' ELSE 'user' || i || '@example.com' END,
                'FirstName', 'Ann', 'LastName', 'Lee', 'Title', 'CTO',
                'Status__c', CASE WHEN i %% 89 = 0 THEN '9' ELSE (1 + i %% 5)::text END,
                'HasOptedOutOfEmail', CASE WHEN i %% 2 = 0 THEN 'true' ELSE 'false' END,
                'Lead_Score__c', CASE WHEN i %% 83 = 0 THEN 'n/a' ELSE (i / 7.0)::text END,
                'Last_Visit__c', '2024-01-02T10:00:00.000+0000')
            FROM generate_series(1, %(n)s) AS i
            """,
            {"batch": batch, "n": n},
        )
        ids = [r[0] for r in conn.execute("SELECT row_id FROM staged WHERE batch = %s ORDER BY row_id", (batch,))]
    expected: dict[int, list[str]] = {}
    for i, row_id in enumerate(ids, start=1):
        reasons = []
        if i % 97 == 0:
            reasons.append("email: not a valid email address")
        if i % 83 == 0:
            reasons.append("lead_score: not a valid numeric")
        if i % 89 == 0:
            reasons.append("status: value '9' not in value map contact_status")
        if reasons:
            expected[row_id] = reasons

    started = time.monotonic()
    outcome = _validate(warehouse, mappings.get("Contact"), mappings, batch, skip=True)
    seconds = time.monotonic() - started
    print(f"validated {n} rows with {outcome.expectations_run} expectations in {seconds:.2f}s")
    assert outcome.evaluated == n
    assert len(expected) > 600
    assert outcome.row_failures == expected
    assert outcome.success
    assert seconds < 60
