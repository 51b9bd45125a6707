"""Migration 0008 leaves one open quarantine row per record and set of reasons."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from crm_sync.paths import SQL_DIR

DATABASE = "quarantine_migration_it"
MIGRATIONS = sorted((SQL_DIR / "migrations" / "warehouse").glob("*.sql"))


@pytest.fixture
def before_0008(pg_server: Any) -> str:
    """A warehouse migrated up to 0007; returns its DSN."""
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    pg_server.ensure_database(DATABASE)
    dsn = pg_server.dsn(DATABASE)
    with psycopg.connect(dsn) as conn:
        for path in MIGRATIONS:
            if path.name < "0008":
                conn.execute(path.read_text(encoding="utf-8"))
    return dsn


def test_the_migration_keeps_the_newest_of_each_duplicate_group(before_0008: str) -> None:
    email, title = ["email: not a valid email address"], ["title: longer than 100 characters"]
    rows = [  # run, record, reasons, status, quarantined at (minutes)
        (1, "003A", email, "open", 0), (2, "003A", email, "open", 10), (3, "003A", email, "open", 20),
        (3, "003A", title, "open", 20), (1, "003B", email, "superseded", 0), (2, "003B", email, "open", 10),
        (4, "003B", email, "open", 30),
    ]
    with psycopg.connect(before_0008) as conn:
        for row_id, (run_id, sf_id, reasons, status, minutes) in enumerate(rows, start=1):
            conn.execute(
                "INSERT INTO crm_quarantine.records (run_id, row_id, object, sf_id, reasons, payload, status,"
                " quarantined_at) VALUES (%s, %s, 'Contact', %s, %s, %s, %s,"
                " timestamptz '2024-01-01 00:00Z' + make_interval(mins => %s))",
                (run_id, row_id, sf_id, reasons, json.dumps({"Id": sf_id, "run": run_id}), status, minutes))
        conn.execute(MIGRATIONS[[p.name[:4] for p in MIGRATIONS].index("0008")].read_text(encoding="utf-8"))
        left = conn.execute(
            "SELECT run_id, sf_id, reasons, status, extract(epoch FROM quarantined_at - '2024-01-01 00:00Z')::int / 60,"
            " extract(epoch FROM last_seen_at - '2024-01-01 00:00Z')::int / 60, payload ->> 'run'"
            " FROM crm_quarantine.records ORDER BY sf_id, reasons, run_id").fetchall()
        assert left == [
            (3, "003A", email, "open", 0, 20, "3"),  # first seen at the first, the newest payload
            (3, "003A", title, "open", 20, 20, "3"),  # other reasons: a row of its own
            (1, "003B", email, "superseded", 0, 0, "1"),  # settled rows are history, kept
            (4, "003B", email, "open", 10, 30, "4"),
        ]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO crm_quarantine.records (run_id, row_id, object, sf_id, reasons, payload)"
                         " VALUES (5, 99, 'Contact', '003A', %s, '{}')", (email,))
