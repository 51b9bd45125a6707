"""Database connections by Airflow connection id, resolved by the Postgres provider's hook.

`PostgresHook` turns the Airflow connection into a connection URI (credentials never pass
through a log); the sync then talks to PostgreSQL through psycopg 3, because its COPY
streams (staging, warehouse → marketing) need psycopg 3's copy API, which the hook's
psycopg2 connections do not offer. Great Expectations gets a SQLAlchemy URL of the same
connection. See docs/decisions.md.
"""

from __future__ import annotations

from typing import Any

import psycopg


def conninfo(conn_id: str) -> str:
    """A libpq connection URI for an Airflow Postgres connection id."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    uri = PostgresHook(postgres_conn_id=conn_id).get_uri()
    # The hook may name its SQLAlchemy dialect in the scheme; libpq wants plain postgresql://.
    return "postgresql://" + uri.split("://", 1)[1]


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg2 driver) for the same connection, as GX needs it."""
    return conninfo(conn_id).replace("postgresql://", "postgresql+psycopg2://", 1)


def scalar(conn: psycopg.Connection, query: Any, params: Any = None) -> Any:
    """The first column of the first row a query returns (it must return one)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row[0]


def connect(conn_id_or_dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a psycopg connection from an Airflow connection id or a `postgresql://` DSN."""
    dsn = conn_id_or_dsn if "://" in conn_id_or_dsn else conninfo(conn_id_or_dsn)
    return psycopg.connect(dsn, autocommit=autocommit, application_name="crm_sync")


# Runs at least this big refresh the statistics of the tables they grew.
ANALYZE_AFTER_ROWS = 10_000


def analyze_after(conn: psycopg.Connection, rows: int, tables: tuple[str, ...]) -> None:
    """ANALYZE the tables when a run wrote `rows` (≥ ANALYZE_AFTER_ROWS) into them.

    Until autovacuum gets to a table, its statistics know nothing of the rows just written:
    a run's anti-joins against them are planned as if the run had none of them, and a
    nested loop over 250,000 staged rows then scans the run's rows once per row.
    """
    if rows >= ANALYZE_AFTER_ROWS:
        for table in tables:
            conn.execute(f"ANALYZE {table}")
