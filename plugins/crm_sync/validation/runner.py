"""Validate one staged batch in PostgreSQL with Great Expectations.

The suite from :mod:`crm_sync.validation.suite` runs on the batch, computed once into a
table, in an ephemeral GX context (nothing written to disk, no analytics). Every metric is
computed in PostgreSQL, and the failing rows of each row-level expectation come back as
their ``row_id`` (GX's ``unexpected_index_list``, result format COMPLETE), so the batch
itself never leaves the database.

Two passes: the whole suite first with result format BOOLEAN_ONLY, which GX answers with
one aggregate query over the batch for all expectations together; then, with COMPLETE,
only the expectations that need their failing rows named (those that failed or could not
run, and row-level ones with ``mostly`` below 1). COMPLETE alone costs two more scans of
the batch per expectation (its unexpected values, then its unexpected index list), each
evaluating the expectation's condition, usually a regular expression, on every row; on a
clean batch the second pass does not run at all. On a batch of more than
``NAMING_SLICE_ROWS`` rows the second pass runs slice by slice (row id ranges of the table,
as views), and each slice's failing rows go to the caller before the next slice is named:
the worker holds one slice's failing rows, not the batch's (at 5M records, 125,000).

GX keeps process-wide state (the current project, its loggers), so validations in one
process run one at a time; Airflow runs each task in its own process. The context and the
datasource are made once per process and warehouse, and a batch without rows is not handed
to GX when every expectation holds on no rows (``_vacuous_on_empty``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import ObjectMapping
from crm_sync.validation import reasons
from crm_sync.validation.suite import (
    ROW_ID_COLUMN,
    Rule,
    build_suite,
    checksum_columns,
    import_gx,
    quiet_gx_logs,
    rule_of,
    typed_columns,
)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationValidationResult

log = logging.getLogger(__name__)

#: GX cuts the SQL list of failing rows at ``partial_unexpected_count`` (20 by default),
#: even with result format COMPLETE; this lifts the cut so every failing row is named.
_ALL_ROWS = 2**31 - 1
_MAX_ERROR_CHARS = 300
# What SQLAlchemy's text() takes for a bind parameter (TextClause._bind_params_regex).
_BIND_PARAMETER = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")
_RUN_LOCK = threading.Lock()
#: The failing rows of a batch bigger than this are named one slice of this many rows at a time.
NAMING_SLICE_ROWS = 1_000_000
_DATASOURCES: dict[str, tuple[Any, Any]] = {}


@dataclass
class ValidationOutcome:
    """The result of validating one staged batch.

    Attributes:
        evaluated: Rows in the batch.
        row_failures: ``row_id`` → reasons (sorted, de-duplicated) for rows failing
            row-level expectations; these rows go to quarantine. Empty when the caller took
            them slice by slice (``on_row_failures``).
        failing_rows: Rows failing row-level expectations (however they were handed over).
        batch_failures: Reasons of failed batch-level expectations, and of expectations
            that could not be evaluated; any of them fails the batch.
        expectations_run: Expectations in the suite.
    """

    evaluated: int
    row_failures: dict[int, list[str]] = field(default_factory=dict)
    batch_failures: list[str] = field(default_factory=list)
    expectations_run: int = 0
    failing_rows: int = 0

    @property
    def success(self) -> bool:
        """True when no batch-level expectation failed (row failures go to quarantine)."""
        return not self.batch_failures


def batch_query(query: str, typed: list[tuple[str, str, str, str]] | None = None,
                checksums: list[tuple[str, str, str]] | None = None) -> str:
    """The query GX validates: the caller's query, plus the typed and checksum companions.

    GX query assets must start with ``SELECT``; anything else (``WITH ...``) is wrapped in a
    sub-select, as is any query that needs companion columns (see ``suite.typed_columns``
    and ``suite.checksum_columns``).

    Raises:
        ValueError: The query holds a ``:name`` sequence. GX hands the text to SQLAlchemy's
            ``text()``, which would take it for a bind parameter, even inside a string
            literal, and silently change the query.
    """
    from psycopg import sql

    text = query.strip().rstrip(";").strip()
    clash = _BIND_PARAMETER.search(text)
    if clash:
        raise ValueError(
            f"the batch query holds {clash.group()!r}, which SQLAlchemy reads as a bind parameter; "
            "write it differently (e.g. no space before the colon)"
        )
    if not typed and not checksums:
        if text[:6].upper() == "SELECT" and text[6:7].isspace():
            return text
        return f"SELECT * FROM (\n{text}\n) AS staged_batch"
    staged = sql.Identifier("staged_batch")
    companions = [
        sql.SQL("CASE WHEN {t}.{c} ~ {p} THEN {t}.{c}::{k} END AS {a}").format(
            t=staged, c=sql.Identifier(column), p=sql.Literal(pattern), k=sql.SQL(sql_type),
            a=sql.Identifier(alias))
        for alias, column, sql_type, pattern in typed or []
    ]
    companions += [sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(alias))
                   for alias, _, expression in checksums or []]
    wrapped = sql.SQL("SELECT {t}.*, {companions} FROM (\n{query}\n) AS {t}").format(
        t=staged, companions=sql.SQL(", ").join(companions), query=sql.SQL(text))
    return wrapped.as_string(None)


@dataclass
class Materialized:
    """The batch as GX sees it: the query to run, and the table holding the batch, if any."""

    query: str
    table: tuple[str | None, str] | None = None
    rows: int | None = None


@contextmanager
def materialized(connection_string: str, query: str) -> Iterator[Materialized]:
    """Compute the batch query once into an UNLOGGED table; yield it as a :class:`Materialized`.

    ``table`` (schema, name) and ``rows`` are ``None`` when nothing was materialised.

    GX sends a few queries per expectation, each over the batch query as a sub-select, so
    without this PostgreSQL would re-run the whole projection (JSONB extraction, transforms,
    typed companions) for every metric. The table is dropped afterwards. When the query
    cannot be materialised (it fails in PostgreSQL), the query itself is handed to GX, which
    then reports the failure as before.
    """
    import psycopg
    from psycopg import sql

    dsn = _psycopg_dsn(connection_string)
    name = f"crm_gx_batch_{uuid.uuid4().hex[:20]}"
    table = sql.Identifier(name)
    try:
        with psycopg.connect(dsn, autocommit=True, application_name="crm_sync") as conn:
            schema = conn.execute("SELECT CASE WHEN has_schema_privilege('crm_staging', 'CREATE')"
                                  " THEN 'crm_staging' END"
                                  " FROM pg_namespace WHERE nspname = 'crm_staging'").fetchone()
            schema_name = schema[0] if schema else None
            if schema_name:
                table = sql.Identifier(schema_name, name)
            rows = conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} AS {}").format(table, sql.SQL(query))).rowcount
    except psycopg.Error as exc:
        log.info("batch query not materialised (%s); GX runs it as it is", str(exc).splitlines()[0])
        yield Materialized(query, rows=_count_rows(dsn, query))
        return
    try:
        yield Materialized(sql.SQL("SELECT * FROM {}").format(table).as_string(None), (schema_name, name), rows)
    finally:
        with psycopg.connect(dsn, autocommit=True, application_name="crm_sync") as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


def _count_rows(dsn: str, query: str) -> int | None:
    """Rows of the batch query, or ``None`` when it fails (GX then reports the failure)."""
    import psycopg
    from psycopg import sql

    from crm_sync.db import scalar

    try:
        with psycopg.connect(dsn, autocommit=True, application_name="crm_sync") as conn:
            return int(scalar(conn, sql.SQL("SELECT count(*) FROM ({}) AS staged_batch").format(sql.SQL(query))))
    except psycopg.Error as exc:
        log.debug("batch query cannot be counted: %s", str(exc).splitlines()[0])
        return None


_COMPLETE = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID_COLUMN],
    "partial_unexpected_count": _ALL_ROWS,
    "return_unexpected_index_query": False,
}


def _needs_rows(result: ExpectationValidationResult) -> bool:
    """Whether the second pass must run the expectation (see the module docstring)."""
    if not result.success or _raised_error(result.exception_info) is not None:
        return True
    config = result.expectation_config
    if config is None:
        return True
    mostly = (config.kwargs or {}).get("mostly")
    return rule_of(config).level == "row" and mostly is not None and float(mostly) < 1


def _datasource(connection_string: str) -> Any:
    """The process's GX context and PostgreSQL datasource for one warehouse, made once.

    An ephemeral context and its datasource are rebuilt by nothing in a run (each run adds,
    then deletes, its own asset), so they are cached by connection string for the life of
    the process. GX's process-wide "current project" is pointed at the cached context every
    time, in case another context was created since.
    """
    from great_expectations.data_context.data_context.context_factory import set_context

    cached = _DATASOURCES.get(connection_string)
    if cached is None:
        gx = import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        datasource = context.data_sources.add_postgres(name="crm_warehouse", connection_string=connection_string)
        _DATASOURCES[connection_string] = cached = (context, datasource)
    set_context(cached[0])
    return cached[1]


@contextmanager
def _slices(connection_string: str, batch: Materialized, slice_rows: int) -> Iterator[list[tuple[str | None, str] | None]]:
    """The parts the failing rows are named in: the whole batch, or views over row id ranges.

    A batch table of more than ``slice_rows`` rows gets an index on its row id and one view
    per range of about ``slice_rows`` rows; ``None`` stands for the whole batch. The views
    are dropped afterwards (before the table is).
    """
    if batch.table is None or batch.rows is None or batch.rows <= slice_rows:
        yield [None]
        return
    import psycopg
    from psycopg import sql

    schema, name = batch.table
    table = _relation(batch.table)
    views: list[tuple[str | None, str]] = []
    with psycopg.connect(_psycopg_dsn(connection_string), autocommit=True, application_name="crm_sync") as conn:
        try:
            conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(table, sql.Identifier(ROW_ID_COLUMN)))
            low, high = conn.execute(sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(
                c=sql.Identifier(ROW_ID_COLUMN), t=table)).fetchone() or (0, 0)
            count = -(-batch.rows // slice_rows)
            width = -(-(int(high) - int(low) + 1) // count)
            for number in range(count):
                view = (schema, f"{name}_s{number}")
                conn.execute(sql.SQL("CREATE VIEW {v} AS SELECT * FROM {t} WHERE {c} >= {a} AND {c} < {b}").format(
                    v=_relation(view), t=table, c=sql.Identifier(ROW_ID_COLUMN),
                    a=sql.Literal(int(low) + number * width), b=sql.Literal(int(low) + (number + 1) * width)))
                views.append(view)
            log.info("naming the failing rows of %d rows in %d slices", batch.rows, count)
            yield list(views)
        finally:
            for view in views:
                conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(_relation(view)))


def _psycopg_dsn(connection_string: str) -> str:
    """The SQLAlchemy URL GX gets, as a libpq DSN psycopg takes (no ``+driver``)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", connection_string)


def _relation(table: tuple[str | None, str]) -> Any:
    """The identifier of a (schema, name) relation; without a schema, the search path's."""
    from psycopg import sql

    schema, name = table
    return sql.Identifier(schema, name) if schema else sql.Identifier(name)


def _run_suite(suite: ExpectationSuite, *, connection_string: str, batch: Materialized, asset_name: str,
               slice_rows: int = NAMING_SLICE_ROWS) -> Iterator[list[ExpectationValidationResult]]:
    """Run the suite on the batch in two passes; yield the results, once per slice of the batch.

    The context and datasource are the process's (see ``_datasource``); the batch's asset
    is added for this run and deleted afterwards. With a materialised table, GX validates it
    as a table asset: a query asset makes GX run the whole query once and hold every row it
    returns in the worker (libpq buffers the result), hundreds of MB at 1M rows; a table
    asset does not.

    Each yield is the screening results with those of the expectations that needed their
    failing rows named replaced by their COMPLETE results over one slice (see ``_slices``);
    a batch that needs nothing named yields the screening results once.
    """
    gx = import_gx()
    datasource = _datasource(connection_string)
    added: list[str] = []

    def whole_batch(name: str, table: tuple[str | None, str] | None) -> Any:
        if table is not None:
            asset = datasource.add_table_asset(name=name, table_name=table[1], schema_name=table[0])
        else:
            asset = datasource.add_query_asset(name=name, query=batch.query)
        added.append(name)
        return asset.add_batch_definition_whole_table(name="whole_batch").get_batch()

    try:
        gx_batch = whole_batch(asset_name, batch.table)
        started = time.monotonic()
        screened = list(gx_batch.validate(suite, result_format="BOOLEAN_ONLY").results)
        wanted = {_config_key(result.expectation_config) for result in screened if _needs_rows(result)}
        log.info("Great Expectations: %d expectations screened in %.2fs; %d need their failing rows named",
                 len(screened), time.monotonic() - started, len(wanted))
        if not wanted:
            yield screened
            return
        detail = gx.ExpectationSuite(name=f"{suite.name}_rows", expectations=[
            expectation.copy() for expectation in suite.expectations
            if _config_key(expectation.configuration) in wanted])
        log.info("Great Expectations: naming the failing rows of %d expectation(s)", len(detail.expectations))
        with _slices(connection_string, batch, slice_rows) as parts:
            for number, part in enumerate(parts):
                part_batch = gx_batch if part is None else whole_batch(f"{asset_name}_s{number}", part)
                named = {_config_key(result.expectation_config): result
                         for result in part_batch.validate(detail, result_format=_COMPLETE).results}
                yield [named.get(_config_key(result.expectation_config), result) for result in screened]
                del named
    finally:
        for name in added:
            if name in datasource.get_asset_names():
                datasource.delete_asset(name=name)
        _dispose_engines(datasource)


def _vacuous_on_empty(suite: ExpectationSuite) -> bool:
    """Whether every expectation of the suite checks column values one row at a time.

    Such expectations pass on a batch without rows whatever their arguments (GX reports
    them successful with no element), so an empty batch needs no validation run. A
    table-level expectation (a row count, say) may fail on an empty batch: GX runs then.
    """
    from great_expectations.expectations.expectation import ColumnMapExpectation

    return all(isinstance(expectation, ColumnMapExpectation) for expectation in suite.expectations)


def _config_key(config: Any) -> str:
    """An expectation's identity across validations: its type, arguments and meta."""
    kwargs = {k: v for k, v in (config.kwargs or {}).items() if k != "batch_id"}
    return json.dumps([config.type, kwargs, config.meta or {}], sort_keys=True, default=str)


def _dispose_engines(datasource: Any) -> None:
    """Close the pooled connections of the datasource's engines after each run.

    The engines stay (the datasource is the process's); their idle connections are not kept
    open between runs, where they would hold a session on the warehouse for nothing.
    """
    for get_engine in (lambda: datasource.get_execution_engine().engine, datasource.get_engine):
        try:
            get_engine().dispose()
        except Exception:  # noqa: BLE001 - closing is best effort; the data is already read
            log.debug("could not dispose a GX engine", exc_info=True)


def _raised_error(exception_info: Any) -> str | None:
    """The error message of an expectation that raised, else ``None``.

    GX reports either one ``{raised_exception, exception_message, ...}`` mapping or one
    such mapping per failed metric.
    """
    if not isinstance(exception_info, Mapping) or not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            message = str(info.get("exception_message") or "unknown error").strip()
            first_line = message.splitlines()[0] if message else "unknown error"
            return first_line[:_MAX_ERROR_CHARS]
    return None


def _collect(results: list[ExpectationValidationResult], expectations_run: int,
             rows: int | None = None) -> ValidationOutcome:
    evaluated = rows or 0
    row_reasons: dict[int, set[str]] = defaultdict(set)
    batch_failures: list[str] = []
    for res in results:
        rule: Rule = rule_of(res.expectation_config)
        error = _raised_error(res.exception_info)
        if error is not None:
            batch_failures.append(reasons.not_evaluated(rule.summary, error))
            continue
        detail = res.result or {}
        evaluated = max(evaluated, int(detail.get("element_count") or 0))
        if rule.level == "batch":
            if not res.success:
                batch_failures.append(rule.summary)
                log.warning("batch check failed: %s (unexpected: %s)", rule.summary,
                            detail.get("unexpected_count", detail.get("observed_value")))
            continue
        index_list = detail.get("unexpected_index_list")
        if index_list is None:
            if not res.success:
                batch_failures.append(reasons.not_evaluated(rule.summary, "no failing row ids"))
            continue
        for entry in index_list:
            value = entry.get(rule.column) if rule.column else None
            row_reasons[int(entry[ROW_ID_COLUMN])].add(rule.reason_for(value))
    return ValidationOutcome(
        evaluated=evaluated,
        row_failures={row_id: sorted(found) for row_id, found in sorted(row_reasons.items())},
        batch_failures=sorted(set(batch_failures)),
        expectations_run=expectations_run,
    )


def validate_batch(
    mapping: ObjectMapping,
    value_maps: Mapping[str, ValueMap],
    *,
    connection_string: str,
    query: str,
    skip_null_match_key: bool,
    reference_columns: Collection[str] = (),
    on_row_failures: Callable[[dict[int, list[str]]], None] | None = None,
    slice_rows: int = NAMING_SLICE_ROWS,
) -> ValidationOutcome:
    """Validate one staged batch in PostgreSQL and name the failing rows.

    Args:
        mapping: The object's mapping (the suite is built from it, see ``build_suite``).
        value_maps: Value maps by name (``MappingSet.value_maps``).
        connection_string: SQLAlchemy URL of the warehouse, e.g.
            ``postgresql+psycopg2://user@127.0.0.1:5432/crm_warehouse``.
        query: A ``SELECT`` (or ``WITH ... SELECT``) over the batch with columns ``row_id``
            (unique), ``sf_id``, ``system_modstamp`` and one text column per mapped field,
            named by its target. No ``:name`` sequences, even in string literals (``::``
            casts and ``'10:00'`` are fine): GX runs it through SQLAlchemy's ``text()``.
        skip_null_match_key: Do not require the match-key field (records without one are
            skipped by the loader, not quarantined).
        reference_columns: Columns of the query holding Ids of other records, checked like
            ``sf_id`` (see ``build_suite``).
        on_row_failures: Takes the failing rows (``row_id`` → reasons) of each slice of the
            batch as they are named; the outcome then holds only their count. Without it
            they are collected in ``row_failures``.
        slice_rows: The size of the slices the failing rows are named in.

    Returns:
        Rows evaluated, failing rows with their reasons, batch-level failures.

    Raises:
        SuiteError: The mapping's hand-written expectations are invalid.
        ValueError: The query holds a ``:name`` sequence (see ``batch_query``).
        great_expectations.datasource.fluent.interfaces.TestConnectionError: The database
            cannot be reached. A query that fails in PostgreSQL does not raise: every
            expectation reports it as a batch failure.
    """
    started = time.monotonic()
    full_query = batch_query(query, typed_columns(mapping), checksum_columns(reference_columns))
    # The batch is computed before GX is needed: a caller that imports GX in a thread (it
    # takes seconds) overlaps the import with this query; build_suite waits for the import.
    with _RUN_LOCK, materialized(connection_string, full_query) as batch:
        log.info("%s batch computed: %s rows in %.2fs", mapping.object,
                 "?" if batch.rows is None else batch.rows, time.monotonic() - started)
        suite = build_suite(mapping, value_maps, skip_null_match_key=skip_null_match_key,
                            reference_columns=reference_columns)
        outcome = ValidationOutcome(evaluated=batch.rows or 0, expectations_run=len(suite.expectations))
        if batch.rows == 0 and _vacuous_on_empty(suite):
            log.info("%s batch is empty: every expectation holds on no rows, GX is not run", mapping.object)
        else:
            with quiet_gx_logs():
                for results in _run_suite(suite, connection_string=connection_string, batch=batch,
                                          asset_name=f"{mapping.object.lower()}_batch", slice_rows=slice_rows):
                    part = _collect(results, expectations_run=len(suite.expectations), rows=batch.rows)
                    outcome.evaluated = max(outcome.evaluated, part.evaluated)
                    outcome.batch_failures = sorted(set(outcome.batch_failures) | set(part.batch_failures))
                    outcome.failing_rows += len(part.row_failures)
                    if on_row_failures is None:
                        outcome.row_failures.update(part.row_failures)
                    else:
                        on_row_failures(part.row_failures)
    log.info(
        "validated %s: %s rows, %s expectations, %s rows failing, %s batch failures in %.2fs",
        mapping.object, outcome.evaluated, outcome.expectations_run, outcome.failing_rows,
        len(outcome.batch_failures), time.monotonic() - started,
    )
    return outcome
