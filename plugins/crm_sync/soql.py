"""Build the SOQL the extract sends (pure functions, unit-tested)."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_sync.mapping.model import ObjectMapping

# Fields every extract needs whatever the mapping says: identity, change cursor, deletes.
SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
# Salesforce-specific fields the people loader needs to follow Lead conversion.
EXTRA_FIELDS = {"lead": ("IsConverted", "ConvertedContactId")}


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds, e.g. 2024-01-02T10:00:00.000Z."""
    if value.tzinfo is None:
        raise ValueError("SOQL datetimes must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def extract_fields(mapping: ObjectMapping) -> list[str]:
    """The fields to select: system fields, then every mapped field, without repeats."""
    fields: list[str] = []
    seen: set[str] = set()
    for name in (*SYSTEM_FIELDS, *EXTRA_FIELDS.get(mapping.object.lower(), ()),
                 *(f.source for f in mapping.fields)):
        if name.lower() not in seen:
            seen.add(name.lower())
            fields.append(name)
    return fields


def window_condition(mapping: ObjectMapping, start: datetime | None, end: datetime) -> str:
    """The WHERE condition of a half-open `[start, end)` SystemModstamp window.

    `start=None` means no lower bound (initial import). The mapping's list filter, if any,
    is ANDed in parentheses.
    """
    parts = []
    if start is not None:
        parts.append(f"SystemModstamp >= {soql_datetime(start)}")
    parts.append(f"SystemModstamp < {soql_datetime(end)}")
    if mapping.filter:
        parts.append(f"({mapping.filter})")
    return " AND ".join(parts)


def select_query(mapping: ObjectMapping, fields: list[str], condition: str | None) -> str:
    """`SELECT <fields> FROM <object> [WHERE <condition>]`."""
    query = f"SELECT {', '.join(fields)} FROM {mapping.object}"
    return f"{query} WHERE {condition}" if condition else query


def count_query(mapping: ObjectMapping, condition: str | None) -> str:
    """`SELECT COUNT() FROM <object> [WHERE <condition>]`."""
    query = f"SELECT COUNT() FROM {mapping.object}"
    return f"{query} WHERE {condition}" if condition else query


def ids_condition(ids: list[str]) -> str:
    """`Id IN ('…', …)` for ids already validated by the caller."""
    return "Id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"
