"""Sticky flags reach every record of a person (the opt-out rule, docs/mappings.md).

A `both` field with `true_wins` (the opt-out, `HasOptedOutOfEmail` → `unsubscribed`) is
sticky: true wins, from either side, and a person's flag is the OR of its records' flags.
A marketing-side opt-out is queued by change tracking and written to every record linked to
the person. An opt-out arriving from Salesforce through one record (a Lead, say) is loaded
into the person by the inbound load, which does not queue its own writes (no echo); this
module's statement, run by the people load, queues the person whenever one of its records
lacks a flag the person has or gets, so the next write-back writes it to every record.
"""

from __future__ import annotations

from psycopg import sql

from crm_sync.mapping.model import Conflict, Direction, FieldMap, ObjectMapping
from crm_sync.sqlfiles import person_parts, template


def sticky_fields(mapping: ObjectMapping) -> list[FieldMap]:
    """The mapping's `both` / `true_wins` fields that are loaded from Salesforce."""
    return [f for f in mapping.loaded_fields if f.direction is Direction.BOTH and f.conflict is Conflict.TRUE_WINS]


def queue_statement(mapping: ObjectMapping) -> sql.Composed | None:
    """The statement that queues people whose records disagree on a sticky flag (None: no flags).

    For a people mapping's load; it must run before `people_upsert.sql` (see
    `include/sql/writeback/queue_sticky.sql`).
    """
    fields = sticky_fields(mapping) if mapping.is_people else []
    if not fields:
        return None
    othercol = person_parts(mapping)["othercol"]
    lacks = []
    for f in fields:
        col = sql.Identifier(f.target)
        lacks.append(sql.SQL(
            "CASE WHEN (COALESCE(i.{col}, false) AND NOT COALESCE(p.{col}, false) AND p.{other} IS NOT NULL)"
            " OR (COALESCE(p.{col}, false) AND NOT COALESCE(i.{col}, false)) THEN {name} END"
        ).format(col=col, other=othercol, name=sql.Literal(f.target)))
    return template("writeback/queue_sticky.sql", fields=sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(lacks)))
