"""Validate one staged batch in PostgreSQL with Great Expectations.

The suite from :mod:`crm_sync.validation.suite` runs on a query asset over the batch's
query, in an ephemeral GX context (nothing written to disk, no analytics). Every metric is
computed in PostgreSQL: GX sends one SQL query per metric over the batch query as a
sub-select, and the failing rows of each row-level expectation come back as their
``row_id`` (GX's ``unexpected_index_list``, result format COMPLETE), so the batch itself
never leaves the database.

GX keeps process-wide state (the current project, its loggers), so validations in one
process run one at a time; Airflow runs each task in its own process.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
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


@dataclass
class ValidationOutcome:
    """The result of validating one staged batch.

    Attributes:
        evaluated: Rows in the batch.
        row_failures: ``row_id`` → reasons (sorted, de-duplicated) for rows failing
            row-level expectations; these rows go to quarantine.
        batch_failures: Reasons of failed batch-level expectations, and of expectations
            that could not be evaluated; any of them fails the batch.
        expectations_run: Expectations in the suite.
    """

    evaluated: int
    row_failures: dict[int, list[str]] = field(default_factory=dict)
    batch_failures: list[str] = field(default_factory=list)
    expectations_run: int = 0

    @property
    def success(self) -> bool:
        """True when no batch-level expectation failed (row failures go to quarantine)."""
        return not self.batch_failures


def batch_query(query: str, typed: list[tuple[str, str, str, str]] | None = None) -> str:
    """The query GX validates: the caller's query, plus the typed companion columns.

    GX query assets must start with ``SELECT``; anything else (``WITH ...``) is wrapped in a
    sub-select, as is any query that needs typed columns (see ``suite.typed_columns``).

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
    if not typed:
        if text[:6].upper() == "SELECT" and text[6:7].isspace():
            return text
        return f"SELECT * FROM (\n{text}\n) AS staged_batch"
    staged = sql.Identifier("staged_batch")
    companions = [
        sql.SQL("CASE WHEN {t}.{c} ~ {p} THEN {t}.{c}::{k} END AS {a}").format(
            t=staged, c=sql.Identifier(column), p=sql.Literal(pattern), k=sql.SQL(sql_type),
            a=sql.Identifier(alias))
        for alias, column, sql_type, pattern in typed
    ]
    wrapped = sql.SQL("SELECT {t}.*, {companions} FROM (\n{query}\n) AS {t}").format(
        t=staged, companions=sql.SQL(", ").join(companions), query=sql.SQL(text))
    return wrapped.as_string(None)


@contextmanager
def materialized(connection_string: str, query: str) -> Iterator[tuple[str, tuple[str | None, str] | None]]:
    """Compute the batch query once into an UNLOGGED table; yield the query and that table.

    Yields ``(query, (schema, table))``, or ``(query, None)`` when nothing was materialised.

    GX sends a few queries per expectation, each over the batch query as a sub-select, so
    without this PostgreSQL would re-run the whole projection (JSONB extraction, transforms,
    typed companions) for every metric. The table is dropped afterwards. When the query
    cannot be materialised (it fails in PostgreSQL), the query itself is handed to GX, which
    then reports the failure as before.
    """
    import psycopg
    from psycopg import sql

    dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", connection_string)
    name = f"crm_gx_batch_{uuid.uuid4().hex[:20]}"
    table = sql.Identifier(name)
    try:
        with psycopg.connect(dsn, autocommit=True, application_name="crm_sync") as conn:
            schema = conn.execute("SELECT CASE WHEN has_schema_privilege('crm_staging', 'CREATE')"
                                  " THEN 'crm_staging' END"
                                  " FROM pg_namespace WHERE nspname = 'crm_staging'").fetchone()
            if schema:
                table = sql.Identifier(schema[0], name)
            conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} AS {}").format(table, sql.SQL(query)))
    except psycopg.Error as exc:
        log.info("batch query not materialised (%s); GX runs it as it is", str(exc).splitlines()[0])
        yield query, None
        return
    try:
        yield (sql.SQL("SELECT * FROM {}").format(table).as_string(None),
               (schema[0] if schema else None, name))
    finally:
        with psycopg.connect(dsn, autocommit=True, application_name="crm_sync") as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


def _run_suite(
    suite: ExpectationSuite, *, connection_string: str, query: str, asset_name: str,
    table: tuple[str | None, str] | None = None,
) -> list[ExpectationValidationResult]:
    """Run the suite on the query in a fresh ephemeral context; return the results.

    With `table` (schema, name: the materialised batch), GX validates it as a table asset:
    a query asset makes GX run the whole query once and hold every row it returns in the
    worker (libpq buffers the result), hundreds of MB at 1M rows; a table asset does not.
    """
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    datasource = context.data_sources.add_postgres(name="crm_warehouse", connection_string=connection_string)
    try:
        if table is not None:
            asset = datasource.add_table_asset(name=asset_name, table_name=table[1], schema_name=table[0])
        else:
            asset = datasource.add_query_asset(name=asset_name, query=query)
        batch = asset.add_batch_definition_whole_table(name="whole_batch").get_batch()
        result = batch.validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [ROW_ID_COLUMN],
                "partial_unexpected_count": _ALL_ROWS,
                "return_unexpected_index_query": False,
            },
        )
    finally:
        _dispose_engines(datasource)
    return list(result.results)


def _dispose_engines(datasource: Any) -> None:
    """Close the pooled connections of the datasource's engines now, not at garbage collection."""
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


def _collect(results: list[ExpectationValidationResult], expectations_run: int) -> ValidationOutcome:
    evaluated = 0
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

    Returns:
        Rows evaluated, failing rows with their reasons, batch-level failures.

    Raises:
        SuiteError: The mapping's hand-written expectations are invalid.
        ValueError: The query holds a ``:name`` sequence (see ``batch_query``).
        great_expectations.datasource.fluent.interfaces.TestConnectionError: The database
            cannot be reached. A query that fails in PostgreSQL does not raise: every
            expectation reports it as a batch failure.
    """
    suite = build_suite(mapping, value_maps, skip_null_match_key=skip_null_match_key)
    started = time.monotonic()
    full_query = batch_query(query, typed_columns(mapping, suite))
    with _RUN_LOCK, quiet_gx_logs(), materialized(connection_string, full_query) as (gx_query, table):
        results = _run_suite(suite, connection_string=connection_string, query=gx_query, table=table,
                             asset_name=f"{mapping.object.lower()}_batch")
    outcome = _collect(results, expectations_run=len(suite.expectations))
    log.info(
        "validated %s: %s rows, %s expectations, %s rows failing, %s batch failures in %.2fs",
        mapping.object, outcome.evaluated, outcome.expectations_run, len(outcome.row_failures),
        len(outcome.batch_failures), time.monotonic() - started,
    )
    return outcome
