"""Marketing-side change tracking: install it, read pending changes, settle them, link rows.

The tables and the trigger function come from migration `marketing/0002_change_tracking.sql`;
SQL lives in `include/sql/writeback/`. Every write the write-back makes to the marketing
database runs with `crm_sync.origin = 'writeback'`, so it is not taken for a marketing edit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from crm_sync.sqlfiles import read_sql, template
from crm_sync.writeback.plan import PEOPLE_LINKS, Change

log = logging.getLogger(__name__)

def latest_seq(conn: psycopg.Connection) -> int:
    """The newest pending change; a run settles changes up to it (later ones wait)."""
    row = conn.execute("SELECT COALESCE(max(change_seq), 0) FROM crm_outbox").fetchone()
    return int(row[0]) if row else 0


def drop_orphans(conn: psycopg.Connection, table: str) -> int:
    """Forget pending changes of rows deleted on the marketing side."""
    return conn.execute(template("writeback/outbox_orphans.sql", table=sql.Identifier(table)),
                        {"table": table}).rowcount


def drop_unmapped(conn: psycopg.Connection, table: str, mapped: list[str]) -> int:
    """Forget pending changes that touch none of the table's mapped columns."""
    return conn.execute(read_sql("writeback/outbox_unmapped.sql"), {"table": table, "columns": mapped}).rowcount


def pending_changes(conn: psycopg.Connection, table: str, columns: list[str], *, upto: int,
                    size: int) -> Iterator[list[Change]]:
    """Yield the table's pending changes up to `upto`, `size` at a time, oldest first.

    Each chunk is read in its own short transaction; the caller settles a chunk (or leaves
    it queued) before asking for the next.
    """
    query = template("writeback/outbox_chunk.sql", table=sql.Identifier(table),
                     columns=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in columns))
    after = 0
    while True:
        with conn.cursor(row_factory=dict_row) as cur:
            changes = [Change.from_outbox(table, row) for row in cur.execute(
                query, {"table": table, "after": after, "upto": upto, "size": size})]
        conn.commit()
        if not changes:
            return
        after = changes[-1].seq
        yield changes


def settle(conn: psycopg.Connection, table: str, changes: list[Change]) -> int:
    """Remove settled changes from the queue (a row changed again meanwhile stays)."""
    if not changes:
        return 0
    return conn.execute(read_sql("writeback/outbox_clear.sql"), {
        "table": table, "row_ids": [c.row_id for c in changes], "seqs": [c.seq for c in changes]}).rowcount


def mark_writeback(conn: psycopg.Connection) -> None:
    """Mark the current transaction's writes as the write-back's own (not marketing edits)."""
    conn.execute("SET LOCAL crm_sync.origin = 'writeback'")


def link(conn: psycopg.Connection, change: Change, object_name: str, sf_id: str, *, people: bool) -> bool:
    """Link a marketing row to a Salesforce record; False when another row holds that link.

    Call inside a transaction marked with `mark_writeback`.
    """
    if people:
        statement = template("writeback/link_person.sql",
                             idcol=sql.Identifier(PEOPLE_LINKS[object_name.lower()]))
        params = {"row_id": change.row_id, "sf_id": sf_id, "object": object_name}
    else:
        statement = template("writeback/link_record.sql", table=sql.Identifier(change.table))
        params = {"row_id": change.row_id, "sf_id": sf_id}
    linked = conn.execute(statement, params).fetchone() is not None
    if linked:
        change.row[PEOPLE_LINKS[object_name.lower()] if people else "sf_id"] = sf_id
    return linked


def table_columns(conn: psycopg.Connection, table: str) -> list[str]:
    """The columns of a marketing table, in order."""
    return [row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s ORDER BY ordinal_position", (table,))]
