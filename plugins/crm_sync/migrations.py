"""Versioned migrations for the warehouse and the marketing database.

Files live in `include/sql/migrations/<database>/NNNN_name.sql` and are applied in order,
each in its own transaction, under an advisory lock so parallel DAG runs never race.
"""

from __future__ import annotations

import logging

import psycopg

from crm_sync.paths import SQL_DIR

log = logging.getLogger(__name__)

_LOCK_KEY = 4_217_001  # arbitrary, constant: serialises migrations across processes


def pending(conn: psycopg.Connection, database: str) -> list[str]:
    """Names of the migration files of `database` not applied yet."""
    files = sorted(p.name for p in (SQL_DIR / "migrations" / database).glob("*.sql"))
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS public.crm_sync_schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM public.crm_sync_schema_migrations")
        done = {row[0] for row in cur.fetchall()}
    # Versions carry the database name so both may share one database if configured so.
    return [name for name in files if f"{database}/{name}" not in done]


def migrate(conn: psycopg.Connection, database: str) -> list[str]:
    """Apply the pending migrations of `database` ('warehouse' or 'marketing').

    Returns:
        The names of the files applied by this call (empty when up to date).
    """
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for name in pending(conn, database):
            log.info("applying %s migration %s", database, name)
            with conn.transaction():
                conn.execute((SQL_DIR / "migrations" / database / name).read_text(encoding="utf-8"))
                conn.execute(
                    "INSERT INTO public.crm_sync_schema_migrations (version) VALUES (%s)", (f"{database}/{name}",)
                )
            applied.append(name)
    return applied
