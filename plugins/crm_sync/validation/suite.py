"""Build the Great Expectations suite that validates one object's staged batch.

The suite is generated from the mapping (pure: no database, no files). It runs on a query
whose result set has ``row_id`` (the staging row), ``sf_id``, ``system_modstamp`` and one
TEXT column per mapped field, named by the field's ``target``, holding the Salesforce value
after the field's transform and before value mapping and casting.

Every expectation carries, in its ``meta``, the :class:`Rule` it implements: the level
(``row``: failing rows are quarantined; ``batch``: the whole batch fails) and the reason
stored with quarantined rows. :func:`rule_of` reads it back from an expectation or from a
validation result's ``expectation_config``.

Great Expectations is imported inside the functions that need it: its import takes
seconds, and DAG files import this module at parse time. :func:`check_expectation_types`
validates the hand-written expectation names without importing it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import Check, ColumnType, Expectation, ObjectMapping
from crm_sync.salesforce.ids import ID18_PATTERN, checksum_sql
from crm_sync.validation import reasons

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations import Expectation as GxExpectation

log = logging.getLogger(__name__)

Level = Literal["row", "batch"]

#: Columns of the validated query besides the mapped fields.
ROW_ID_COLUMN = "row_id"
SF_ID_COLUMN = "sf_id"
MODSTAMP_COLUMN = "system_modstamp"
SYSTEM_COLUMNS = (ROW_ID_COLUMN, SF_ID_COLUMN, MODSTAMP_COLUMN)

#: The logger of Great Expectations and its modules.
GX_LOGGER = "great_expectations"

#: Key under which an expectation's :class:`Rule` is kept in its ``meta``.
META_KEY = "crm_sync"

# The patterns below run in PostgreSQL (the `~` operator, advanced regular expressions) and
# mean the same in Python's `re`: only bracket classes, groups, alternation and repeats, with
# no `:name` sequences (SQLAlchemy's text() would read them as bind parameters). PostgreSQL
# expands a bounded repeat `{m,n}` into n copies of its atom, so large bounds are avoided:
# they made the email pattern ten times slower.

#: A Salesforce record Id as the APIs return it (the 18-character, case-safe form).
SF_ID_PATTERN = ID18_PATTERN

# Label and address lengths are left to `max_length`.
_EMAIL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
#: A sane email address: dot-separated atoms, ``@``, a dotted domain with a letter TLD.
EMAIL_PATTERN = rf"^{_EMAIL_ATOM}(\.{_EMAIL_ATOM})*@({_DOMAIN_LABEL}\.)+[A-Za-z][A-Za-z]+$"

# Dates PostgreSQL accepts: years 0001-9999, real month lengths, 29 February of leap years.
_YEAR = r"(0[0-9]{2}[1-9]|0[0-9][1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    r"|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    r"|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = rf"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
_ZONE = r"(Z|z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)"

# 0 to 2147483647; with a sign and -2147483648, the range of PostgreSQL's `integer`.
_INT4 = (
    r"([0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
    r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]|214748364[0-7])"
)

#: Text that casts cleanly to the column type: ``integer`` fits PostgreSQL's ``integer``
#: through ``::numeric::integer`` (a trailing ``.0`` included); ``numeric`` includes
#: Java-style scientific notation such as ``9.9213206E7`` and fits ``numeric`` and
#: ``double precision``; dates are real dates; timestamps are ISO 8601 as Salesforce writes
#: them (``2024-01-02T10:00:00.000+0000``), the zone optional.
TYPE_PATTERNS: dict[ColumnType, str] = {
    ColumnType.INTEGER: rf"^([+-]?0*{_INT4}|-0*2147483648)(\.0+)?$",
    ColumnType.NUMERIC: r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$",
    ColumnType.BOOLEAN: r"^(true|false|TRUE|FALSE|True|False)$",
    ColumnType.DATE: rf"^{_DATE}$",
    ColumnType.TIMESTAMP: rf"^{_DATE}[T ]{_TIME}{_ZONE}?$",
}

#: How a typed column is cast for hand-written expectations (the caster's own types).
SQL_CASTS: dict[ColumnType, str] = {
    ColumnType.INTEGER: "numeric",
    ColumnType.NUMERIC: "numeric",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamptz",
}
#: Suffix of the checksum companion of an Id column (``sf_id__bad_checksum``): the Id when it
#: has 18 letters and digits but fails its checksum, else NULL (see :func:`checksum_columns`).
CHECKSUM_SUFFIX = "__bad_checksum"
#: Suffix of the typed companion of a text column (``lead_score__typed``), see typed_columns.
TYPED_SUFFIX = "__typed"
# Hand-written expectations of these kinds read the text itself, not the typed value.
_TEXT_EXPECTATION_MARKERS = ("regex", "like_pattern", "value_lengths", "strftime", "json", "dateutil")

# A map expectation whose failing rows GX cannot name in SQL (its unexpected index list is
# skipped there), so it cannot run at row level.
_ROW_INCAPABLE = frozenset({"expect_compound_columns_to_be_unique"})


class SuiteError(ValueError):
    """The expectations of a mapping cannot be built; the message names object and type."""


@dataclass(frozen=True)
class Rule:
    """What one expectation checks, at which level, and the reason a row fails it.

    Attributes:
        kind: ``required``, ``email``, ``value_map``, ``max_length``, ``type``, ``id``,
            ``modstamp`` or ``custom`` (hand-written).
        level: ``row`` (failing rows are quarantined) or ``batch`` (the batch fails).
        reason: The stable, human-readable reason; may hold ``{value}``.
        column: The column the expectation is about (``None`` for table-level ones).
    """

    kind: str
    level: Level
    reason: str
    column: str | None = None

    def reason_for(self, value: object = None) -> str:
        """The reason for one failing row, with its offending value filled in."""
        return reasons.render_reason(self.reason, value)

    @property
    def summary(self) -> str:
        """The reason without a row's value, for batch-level messages."""
        return reasons.without_value(self.reason)

    def to_meta(self) -> dict[str, Any]:
        """This rule as the ``meta`` entry of its expectation."""
        return {META_KEY: {"kind": self.kind, "level": self.level, "reason": self.reason,
                           "column": self.column}}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> Rule:
        """Read a rule back from an expectation's ``meta``.

        Raises:
            KeyError: The expectation was not built by :func:`build_suite`.
        """
        entry = (meta or {})[META_KEY]
        return cls(kind=entry["kind"], level=entry["level"], reason=entry["reason"],
                   column=entry.get("column"))


@dataclass(frozen=True)
class _Spec:
    """One expectation to build: its GX type, its kwargs and its rule."""

    type: str
    kwargs: dict[str, Any]
    rule: Rule


def rule_of(expectation: Any) -> Rule:
    """Return the :class:`Rule` of a GX expectation or expectation configuration.

    Args:
        expectation: An expectation of a suite from :func:`build_suite`, or the
            ``expectation_config`` of one of its validation results.

    Raises:
        KeyError: The expectation was not built by :func:`build_suite`.
    """
    return Rule.from_meta(getattr(expectation, "meta", None))


@contextmanager
def quiet_gx_logs() -> Iterator[None]:
    """Lower Great Expectations' loggers to WARNING for the block, then restore them.

    GX logs every step at INFO and pins some of its module loggers to INFO itself, so each
    of its loggers is lowered, not only the package logger. Logger levels are process-wide.
    """
    loggers = [logging.getLogger(GX_LOGGER)] + [
        logger for name, logger in list(logging.Logger.manager.loggerDict.items())
        if name.startswith(GX_LOGGER + ".") and isinstance(logger, logging.Logger)
    ]
    # Only the loggers lowered are restored: each setLevel clears the level cache of every
    # logger of the process (hundreds under Airflow), so touching all of them cost 0.6 s.
    lowered = [(logger, logger.level) for logger in loggers
               if (logger is loggers[0] or logger.level != logging.NOTSET)
               and logger.getEffectiveLevel() < logging.WARNING]
    for logger, _ in lowered:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in lowered:
            logger.setLevel(level)


# One import at a time: a thread may be importing GX ahead of use (see pipeline.validate);
# a second caller waits for it here rather than racing it through the import machinery.
_IMPORT_LOCK = threading.Lock()


def import_gx() -> Any:
    """Import Great Expectations with its analytics off and its import-time logs quiet.

    Thread-safe: callers wait for an import another thread has started.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with _IMPORT_LOCK, quiet_gx_logs():
        import great_expectations as gx

    return gx


def checksum_columns(reference_columns: Collection[str] = ()) -> list[tuple[str, str, str]]:
    """The checksum companion columns of the record's Id and of its reference fields.

    Pure (Great Expectations is not imported), so the batch can be computed while GX loads.

    Returns:
        ``(alias, Id column, SQL expression)`` per Id column, ``sf_id`` first: the runner adds
        the expression as ``alias``. It yields the Id when it has Salesforce's 18-character
        shape and its last 3 characters are not the checksum of the first 15
        (``ids.checksum_sql``, the rule of ``ids.to_18``), else NULL; ``CASE`` keeps the
        checksum from being computed on values of another shape.
    """
    from psycopg import sql

    columns = [SF_ID_COLUMN, *sorted(set(reference_columns) - {SF_ID_COLUMN})]
    companions = []
    for column in columns:
        quoted = sql.Identifier("staged_batch", column).as_string(None)
        expression = (f"CASE WHEN {quoted} ~ '{SF_ID_PATTERN}' THEN CASE WHEN upper(substr({quoted}, 16, 3))"
                      f" <> {checksum_sql(quoted)} THEN {quoted} END END")
        companions.append((f"{column}{CHECKSUM_SUFFIX}", column, expression))
    return companions


def _id_specs(column: str, field: str) -> list[_Spec]:
    """Row-level rules of one Id column: 18 letters and digits, and a valid checksum."""
    return [
        _Spec("expect_column_values_to_match_regex", {"column": column, "regex": SF_ID_PATTERN},
              Rule("id", "row", reasons.id_malformed(field), column)),
        _Spec("expect_column_values_to_be_null", {"column": f"{column}{CHECKSUM_SUFFIX}"},
              Rule("id", "row", reasons.id_checksum(field), f"{column}{CHECKSUM_SUFFIX}")),
    ]


def _generated_specs(
    mapping: ObjectMapping, value_maps: Mapping[str, ValueMap], *, skip_null_match_key: bool,
    reference_columns: Collection[str] = (),
) -> list[_Spec]:
    specs = [
        _Spec("expect_column_values_to_not_be_null", {"column": SF_ID_COLUMN},
              Rule("id", "row", reasons.id_missing(), SF_ID_COLUMN)),
        *_id_specs(SF_ID_COLUMN, reasons.ID_FIELD),
        _Spec("expect_column_values_to_not_be_null", {"column": MODSTAMP_COLUMN},
              Rule("modstamp", "batch", reasons.modstamp_missing(), MODSTAMP_COLUMN)),
    ]
    for column in sorted(set(reference_columns) - {SF_ID_COLUMN}):
        specs += _id_specs(column, column)
    match_target = mapping.match_key if mapping.match_key != SF_ID_COLUMN else None
    for fm in mapping.fields:
        column = fm.target
        if fm.required and not (skip_null_match_key and column == match_target):
            specs.append(_Spec("expect_column_values_to_not_be_null", {"column": column},
                               Rule("required", "row", reasons.required_missing(column), column)))
        if fm.type in TYPE_PATTERNS:
            specs.append(_Spec("expect_column_values_to_match_regex",
                               {"column": column, "regex": TYPE_PATTERNS[fm.type]},
                               Rule("type", "row", reasons.not_castable(column, fm.type.value), column)))
        if fm.max_length is not None:
            specs.append(_Spec("expect_column_value_lengths_to_be_between",
                               {"column": column, "min_value": 0, "max_value": fm.max_length},
                               Rule("max_length", "row", reasons.too_long(column, fm.max_length), column)))
        if fm.check is Check.EMAIL:
            specs.append(_Spec("expect_column_values_to_match_regex",
                               {"column": column, "regex": EMAIL_PATTERN},
                               Rule("email", "row", reasons.invalid_email(column), column)))
        if fm.values is not None:
            value_map = value_maps.get(fm.values)
            if value_map is None:
                raise SuiteError(f"{mapping.object}: field {fm.source}: value map {fm.values!r} not loaded")
            specs.append(_Spec("expect_column_values_to_be_in_set",
                               {"column": column, "value_set": list(value_map.crm_values)},
                               Rule("value_map", "row", reasons.not_in_value_map(column, fm.values), column)))
    return specs


def _custom_column(kwargs: Mapping[str, Any]) -> str | None:
    if isinstance(kwargs.get("column"), str):
        return kwargs["column"]
    if isinstance(kwargs.get("column_A"), str) and isinstance(kwargs.get("column_B"), str):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if isinstance(kwargs.get("column_list"), list):
        return ", ".join(str(c) for c in kwargs["column_list"])
    return None


def _custom_spec(mapping: ObjectMapping, extra: Expectation, typed: dict[str, str]) -> _Spec:
    """The spec of a hand-written expectation; ``typed`` collects the typed columns it reads.

    The query's field columns are text, so a comparison such as ``min_value: 0`` on a
    numeric field would compare text with a number (an SQL error). Unless the expectation
    reads text (regex, length, ...), a typed field's column is replaced by its typed
    companion ``<target>__typed``: the value cast to the field's type, NULL when it does not
    cast (the type rule reports that row).
    """
    types = {fm.target: fm.type for fm in mapping.fields}
    reads_text = any(marker in extra.type for marker in _TEXT_EXPECTATION_MARKERS)

    def resolve(column: Any) -> Any:
        if column not in types and column not in SYSTEM_COLUMNS:
            raise SuiteError(
                f"{mapping.object}: expectation {extra.type}: column {column!r} is not a mapped field "
                f"(known: {', '.join(sorted([*types, *SYSTEM_COLUMNS]))})"
            )
        if reads_text or types.get(column, ColumnType.TEXT) not in SQL_CASTS:
            return column
        alias = f"{column}{TYPED_SUFFIX}"
        if alias in types:
            raise SuiteError(f"{mapping.object}: expectation {extra.type}: column {alias!r} clashes with "
                             f"the typed companion of {column!r}; rename the field's target")
        typed[alias] = column
        return alias

    kwargs = dict(extra.kwargs)
    for key in ("column", "column_A", "column_B"):
        if key in kwargs:
            kwargs[key] = resolve(kwargs[key])
    if isinstance(kwargs.get("column_list"), list):
        kwargs["column_list"] = [resolve(column) for column in kwargs["column_list"]]
    column = _custom_column(extra.kwargs)
    return _Spec(extra.type, kwargs, Rule("custom", extra.level, reasons.custom_failed(extra.type, column), column))


def typed_columns(mapping: ObjectMapping) -> list[tuple[str, str, str, str]]:
    """The typed companion columns the mapping's hand-written expectations read.

    Pure (Great Expectations is not imported), so the batch can be computed while GX loads.

    Returns:
        ``(alias, text column, SQL type, castable pattern)`` per companion, sorted: the
        runner adds ``CASE WHEN <column> ~ <pattern> THEN <column>::<type> END AS <alias>``.

    Raises:
        SuiteError: A hand-written expectation names a column that is not mapped.
    """
    typed: dict[str, str] = {}
    for extra in mapping.expectations:
        _custom_spec(mapping, extra, typed)
    types = {fm.target: fm.type for fm in mapping.fields}
    return [
        (alias, column, SQL_CASTS[types[column]], TYPE_PATTERNS[types[column]])
        for alias, column in sorted(typed.items())
    ]


def _is_row_capable(expectation_class: type) -> bool:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return issubclass(expectation_class, (ColumnMapExpectation, ColumnPairMapExpectation,
                                          MulticolumnMapExpectation))


def _instantiate(mapping: ObjectMapping, spec: _Spec) -> GxExpectation:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        expectation_class = get_expectation_impl(spec.type)
    except ExpectationNotFoundError:
        raise SuiteError(f"{mapping.object}: unknown expectation type {spec.type!r}") from None
    if spec.rule.level == "row" and (spec.type in _ROW_INCAPABLE or not _is_row_capable(expectation_class)):
        raise SuiteError(
            f"{mapping.object}: expectation {spec.type} cannot name failing rows; set level: batch"
        )
    kwargs = dict(spec.kwargs)
    meta = dict(kwargs.pop("meta", None) or {})
    meta.update(spec.rule.to_meta())
    try:
        return expectation_class(**kwargs, meta=meta)
    except Exception as exc:  # pydantic reports every bad or unknown argument
        raise SuiteError(f"{mapping.object}: expectation {spec.type}: invalid kwargs: {exc}") from exc


def build_suite(
    mapping: ObjectMapping, value_maps: Mapping[str, ValueMap], *, skip_null_match_key: bool,
    reference_columns: Collection[str] = (),
) -> ExpectationSuite:
    """Build the expectation suite of one object's staged batch.

    Generated from the mapping: ``required`` → not null; ``check: email`` → email regex;
    ``values`` → in the value map's Salesforce values; ``max_length`` → length at most N;
    a non-text ``type`` → castable text (regex); all row level. Always, at row level: ``sf_id``
    not null, 18 letters and digits and a valid checksum (its companion column, see
    :func:`checksum_columns`), and the same for each of ``reference_columns`` (a NULL
    reference passes); at batch level: ``system_modstamp`` not null. Then
    the mapping's hand-written ``expectations`` at their own level; those that compare
    values read a typed field through its typed companion column (see
    :func:`typed_columns`). Null values pass every row-level rule except ``required``.

    Args:
        mapping: The object's mapping.
        value_maps: Value maps by name (``MappingSet.value_maps``).
        skip_null_match_key: Records without a match key are skipped by the loader, so no
            not-null expectation is generated for the match-key field.
        reference_columns: Columns of the batch holding Salesforce Ids of other records
            (reference fields), checked like the record's own Id.

    Returns:
        A Great Expectations suite; read each expectation's level and reason with
        :func:`rule_of`.

    Raises:
        SuiteError: A hand-written expectation has an unknown type, bad kwargs, names a
            column that is not mapped, or asks for row level without being a per-row
            expectation; or a value map is missing. The message names the object.
    """
    gx = import_gx()
    specs = _generated_specs(mapping, value_maps, skip_null_match_key=skip_null_match_key,
                             reference_columns=reference_columns)
    typed: dict[str, str] = {}
    specs += [_custom_spec(mapping, extra, typed) for extra in mapping.expectations]
    expectations = [_instantiate(mapping, spec) for spec in specs]
    log.debug("built %s expectations for %s", len(expectations), mapping.object)
    return gx.ExpectationSuite(name=f"crm_sync_{mapping.object.lower()}", expectations=expectations)


def describe_suite(suite: ExpectationSuite) -> list[tuple[str, Rule]]:
    """List ``(expectation type, rule)`` for every expectation of a built suite, in order."""
    return [(expectation.expectation_type, rule_of(expectation)) for expectation in suite.expectations]


def check_expectation_types(mapping: ObjectMapping) -> None:
    """Check the hand-written expectation types exist, without importing Great Expectations.

    A fast check for DAG parse time (importing GX takes seconds); :func:`build_suite` does
    the full check (kwargs, columns, levels) when the suite is built.

    Raises:
        SuiteError: An expectation type is not one of Great Expectations' core types.
    """
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or not spec.submodule_search_locations:
        raise SuiteError("great_expectations is not installed (see requirements.txt)")
    core = Path(next(iter(spec.submodule_search_locations))) / "expectations" / "core"
    for extra in mapping.expectations:
        if not (core / f"{extra.type}.py").is_file():
            raise SuiteError(f"{mapping.object}: unknown expectation type {extra.type!r}")
