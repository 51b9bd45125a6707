"""Database connections by Airflow connection id (credentials never pass through logs)."""

from __future__ import annotations

from urllib.parse import quote

import psycopg


def _connection(conn_id: str):
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def conninfo(conn_id: str) -> str:
    """A libpq conninfo URL for an Airflow Postgres connection id."""
    conn = _connection(conn_id)
    user = quote(conn.login or "postgres", safe="")
    password = f":{quote(conn.password, safe='')}" if conn.password else ""
    host = conn.host or "127.0.0.1"
    port = conn.port or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{conn.schema or 'postgres'}"


def sqlalchemy_url(conn_id: str) -> str:
    """A SQLAlchemy URL (psycopg2 driver) for the same connection, as GX needs it."""
    return conninfo(conn_id).replace("postgresql://", "postgresql+psycopg2://", 1)


def connect(conn_id_or_dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a psycopg connection from an Airflow connection id or a `postgresql://` DSN."""
    dsn = conn_id_or_dsn if "://" in conn_id_or_dsn else conninfo(conn_id_or_dsn)
    return psycopg.connect(dsn, autocommit=autocommit, application_name="crm_sync")
