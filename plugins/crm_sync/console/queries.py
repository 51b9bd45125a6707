"""The console's reads and writes on the warehouse and marketing databases.

Every statement lives in `include/sql/console/` and takes its input as bind parameters; the
only composed parts are identifiers (marketing table and column names from the mapping
tables), quoted through psycopg.sql.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from crm_sync.db import connect
from crm_sync.mapping.model import ObjectMapping
from crm_sync.settings import load_settings
from crm_sync.sqlfiles import read_sql, template


@contextmanager
def warehouse() -> Iterator[psycopg.Connection]:
    """A connection to the warehouse (Airflow connection `warehouse_conn_id`), rows as dicts."""
    with connect(load_settings().warehouse_conn_id) as conn:
        conn.row_factory = dict_row  # type: ignore[assignment]
        yield conn


@contextmanager
def marketing() -> Iterator[psycopg.Connection]:
    """A connection to the marketing database (Airflow connection `marketing_conn_id`)."""
    with connect(load_settings().marketing_conn_id) as conn:
        conn.row_factory = dict_row  # type: ignore[assignment]
        yield conn


def fetch_all(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run `include/sql/console/<name>.sql` and return its rows."""
    return conn.execute(read_sql(f"console/{name}.sql"), params or {}).fetchall()  # type: ignore[return-value]


def fetch_one(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Run `include/sql/console/<name>.sql` and return its first row (or None)."""
    rows = fetch_all(conn, name, params)
    return rows[0] if rows else None


def marketing_counts(mappings: list[ObjectMapping]) -> dict[str, int]:
    """Active marketing rows per object.

    Args:
        mappings: The mapped objects.

    Returns:
        Object -> number of rows carrying one of its Salesforce Ids and not archived.
    """
    counts: dict[str, int] = {}
    if not mappings:
        return counts
    with marketing() as mk:
        for mapping in mappings:
            statement = template("console/marketing_count.sql", table=sql.Identifier(mapping.target),
                                 id_column=sql.Identifier(mapping.sf_id_column))
            row: Any = mk.execute(statement).fetchone()
            counts[mapping.object] = int(row["n"]) if row else 0
    return counts


def marketing_row(mk: psycopg.Connection, table: str, row_id: int) -> dict[str, Any] | None:
    """One marketing row as a dict, or None when it is gone."""
    row = mk.execute(template("console/marketing_row.sql", table=sql.Identifier(table)),
                     {"id": row_id}).fetchone()
    found: Any = row
    return found["row"] if found else None


def ids_by_email(email: str) -> list[str]:
    """Salesforce Ids that belong to an email: the marketing person's, then staged payloads'."""
    found: list[str] = []
    with marketing() as mk:
        for row in fetch_all(mk, "find_by_email_people", {"email": email}):
            found.extend(value for value in (row["contact_sf_id"], row["lead_sf_id"]) if value)
    with warehouse() as wh:
        found.extend(row["sf_id"] for row in fetch_all(wh, "find_by_email_staged", {"email": email}))
    return list(dict.fromkeys(found))
