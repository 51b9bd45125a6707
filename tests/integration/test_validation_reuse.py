"""Great Expectations' fixed cost is paid once per process: one context and datasource per
warehouse, reused by every validation, and no GX run at all for an empty batch whose
expectations all hold on no rows. The verdicts are GX's own either way."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from crm_sync.mapping import load_mappings
from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import ObjectMapping
from crm_sync.paths import INCLUDE_DIR
from crm_sync.validation import runner
from crm_sync.validation.suite import build_suite, checksum_columns, quiet_gx_logs, typed_columns

DATABASE = "validation_reuse_it"


@pytest.fixture(scope="module")
def mappings() -> MappingSet:
    return load_mappings(INCLUDE_DIR / "mappings")


@pytest.fixture(scope="module")
def url(pg_server: Any) -> Iterator[str]:
    """A fresh database with a small Contact-shaped table; yields its SQLAlchemy URL."""
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    pg_server.ensure_database(DATABASE)
    with psycopg.connect(pg_server.dsn(DATABASE), autocommit=True) as conn:
        conn.execute("CREATE TABLE contacts (row_id bigint PRIMARY KEY, sf_id text, system_modstamp timestamptz,"
                     " email text, title text)")
        conn.execute("INSERT INTO contacts VALUES (1, '003000000000001AAA', now(), 'ann@example.com', 'CTO'),"
                     " (2, '003000000000002AAA', now(), 'not-an-email', 'CEO')")
    yield pg_server.dsn(DATABASE).replace("postgresql://", "postgresql+psycopg2://", 1)


def _query(mapping: ObjectMapping, where: str) -> str:
    columns = ", ".join(f"email AS {f.target}" if f.target == "email" else
                        (f"title AS {f.target}" if f.target == "title" else f"NULL::text AS {f.target}")
                        for f in mapping.fields)
    return f"SELECT row_id, sf_id, system_modstamp, {columns} FROM contacts WHERE {where}"


def _validate(url: str, mapping: ObjectMapping, mappings: MappingSet, where: str) -> runner.ValidationOutcome:
    return runner.validate_batch(mapping, mappings.value_maps, connection_string=url, query=_query(mapping, where),
                                 skip_null_match_key=True)


def test_one_context_and_datasource_serve_every_validation_of_the_process(url: str, mappings: MappingSet) -> None:
    contact = mappings.get("Contact")
    first = _validate(url, contact, mappings, "true")
    datasource = runner._DATASOURCES[url][1]
    second = _validate(url, contact, mappings, "row_id = 2")
    assert runner._DATASOURCES[url][1] is datasource
    assert datasource.get_asset_names() == set()  # each run removes its own asset
    assert (first.evaluated, second.evaluated) == (2, 1)
    assert first.row_failures == {2: ["email: not a valid email address"]} == second.row_failures
    assert first.success and second.success


def test_an_empty_batch_gets_gx_verdict_without_a_gx_run(url: str, mappings: MappingSet,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    for mapping in mappings.objects:
        query = runner.batch_query(_query(mapping, "false"), typed_columns(mapping), checksum_columns())
        suite = build_suite(mapping, mappings.value_maps, skip_null_match_key=True)
        with runner.materialized(url, query) as batch, quiet_gx_logs():
            assert batch.rows == 0
            [results] = runner._run_suite(suite, connection_string=url, batch=batch, asset_name="empty")
            ran = runner._collect(results, expectations_run=len(suite.expectations), rows=batch.rows)
        assert runner._vacuous_on_empty(suite), mapping.object
        assert (ran.evaluated, ran.row_failures, ran.batch_failures) == (0, {}, []), mapping.object
    caplog.clear()  # only the validation below counts (the loop above ran GX on purpose)
    with caplog.at_level(logging.INFO, logger="crm_sync.validation.runner"):
        skipped = _validate(url, mappings.get("Contact"), mappings, "false")
    assert "GX is not run" in caplog.text
    assert "expectations screened" not in caplog.text
    assert (skipped.evaluated, skipped.row_failures, skipped.batch_failures) == (0, {}, [])
    assert skipped.expectations_run == len(build_suite(mappings.get("Contact"), mappings.value_maps,
                                                       skip_null_match_key=True).expectations)


def test_a_table_level_expectation_still_runs_gx_on_an_empty_batch(url: str, mappings: MappingSet) -> None:
    contact = ObjectMapping.model_validate({**mappings.get("Contact").model_dump(mode="json"), "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "level": "batch"}]})
    assert not runner._vacuous_on_empty(build_suite(contact, mappings.value_maps, skip_null_match_key=True))
    outcome = _validate(url, contact, mappings, "false")
    assert outcome.batch_failures == ["expect_table_row_count_to_be_between failed"]
