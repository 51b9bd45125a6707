"""Fixtures for integration tests that need their own, fresh warehouse and marketing databases."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from crm_sync.migrations import migrate

_counter = itertools.count(1)


@dataclass
class Databases:
    """A fresh, migrated warehouse and marketing database pair."""

    warehouse: str  # DSN
    marketing: str  # DSN


@pytest.fixture
def fresh_databases(pg_server) -> Iterator[Databases]:
    """New databases for one test, so tests never see each other's rows."""
    n = next(_counter)
    names = (f"it_wh_{n}", f"it_mk_{n}")
    for name in names:
        with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        pg_server.ensure_database(name)
    databases = Databases(pg_server.dsn(names[0]), pg_server.dsn(names[1]))
    with psycopg.connect(databases.warehouse) as wh:
        migrate(wh, "warehouse")
    with psycopg.connect(databases.marketing) as mk:
        migrate(mk, "marketing")
    yield databases
