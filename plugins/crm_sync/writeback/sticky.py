"""Sticky values reach every record of a person (the opt-out rule, docs/mappings.md).

A `both` field with `true_wins` (the opt-out, `HasOptedOutOfEmail` → `unsubscribed`) is
sticky: true wins, from either side, and a person's flag is the OR of its records' flags.
`set_wins` is the same rule for a value (the hard bounce, `EmailBouncedDate` →
`hard_bounced_at`): a set value wins over none, and reaches the records that have none.
A marketing-side opt-out is queued by change tracking and written to every record linked to
the person. An opt-out arriving from Salesforce through one record (a Lead, say) is loaded
into the person by the inbound load, which does not queue its own writes (no echo); this
module's statement, run by the people load, queues the person whenever one of its records
lacks a flag the person has or gets, so the next write-back writes it to every record.
"""

from __future__ import annotations

from psycopg import sql

from crm_sync.mapping.model import ColumnType, FieldMap, ObjectMapping
from crm_sync.sqlfiles import person_parts, template


def sticky_fields(mapping: ObjectMapping) -> list[FieldMap]:
    """The mapping's sticky fields (`both` with `true_wins` or `set_wins`), loaded from Salesforce."""
    return [f for f in mapping.loaded_fields if f.is_sticky]


def _has(row: str, f: FieldMap) -> sql.Composable:
    """True when the row carries the sticky value: a true flag, or any value."""
    col = sql.SQL("{}.{}").format(sql.Identifier(row), sql.Identifier(f.target))
    if f.type is ColumnType.BOOLEAN:
        return sql.SQL("COALESCE({}, false)").format(col)
    return sql.SQL("({} IS NOT NULL)").format(col)


def queue_statement(mapping: ObjectMapping) -> sql.Composed | None:
    """The statement that queues people whose records disagree on a sticky value (None: none mapped).

    For a people mapping's load; it must run before `people_upsert.sql` (see
    `include/sql/writeback/queue_sticky.sql`).
    """
    fields = sticky_fields(mapping) if mapping.is_people else []
    if not fields:
        return None
    othercol = person_parts(mapping)["othercol"]
    lacks = []
    for f in fields:
        lacks.append(sql.SQL(
            "CASE WHEN ({i} AND NOT {p} AND p.{other} IS NOT NULL) OR ({p} AND NOT {i}) THEN {name} END"
        ).format(i=_has("i", f), p=_has("p", f), other=othercol, name=sql.Literal(f.target)))
    return template("writeback/queue_sticky.sql", fields=sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(lacks)))
