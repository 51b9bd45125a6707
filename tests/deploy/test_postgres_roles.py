"""The compose PostgreSQL's init script on a real server: least-privilege roles that work.

Runs ``deploy/postgres-init/10-crm-sync-databases.sh`` with ``psql`` against a throw-away
embedded PostgreSQL (its own cluster: the script creates cluster-wide roles), then applies
the sync's real migrations as the roles the deployment uses, makes a marketing-side edit as
the marketing application (the tracking triggers must record it), and checks what each
role must not be able to do. The server trusts local connections, so the passwords are
not exercised here, only the privileges.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from crm_sync.migrations import migrate
from devstack.postgres import EmbeddedPostgres, find_free_port, postgres_bin_dir
from tests.fixtures.stack import PROJECT_ROOT, TestStack

INIT_SCRIPT = PROJECT_ROOT / "deploy" / "postgres-init" / "10-crm-sync-databases.sh"


@pytest.fixture(scope="module")
def initialised(test_stack: TestStack) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(test_stack.base_dir / "pg-roles", find_free_port(), fsync=False)
    server.start()
    try:
        env = {
            **os.environ,
            "PATH": f"{postgres_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(server.port),
            "POSTGRES_USER": "postgres",
            "AIRFLOW_DB_PASSWORD": "test-only-1",
            "CRM_WAREHOUSE_DB_PASSWORD": "test-only-2",
            "CRM_MARKETING_DB_PASSWORD": "test-only-3",
            "MARKETING_APP_DB_PASSWORD": "test-only-4",
        }
        result = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        # The sync's real migrations, as the deployment's roles.
        with _connect(server, "crm_warehouse", "crm_warehouse") as wh:
            assert migrate(wh, "warehouse")
        with _connect(server, "marketing", "crm_marketing") as mk:
            assert migrate(mk, "marketing")
        yield server
    finally:
        server.stop()


def _connect(server: EmbeddedPostgres, database: str, role: str) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://{role}@127.0.0.1:{server.port}/{database}", connect_timeout=10)


def test_the_sync_migrates_and_the_marketing_app_edits_are_tracked(initialised: EmbeddedPostgres) -> None:
    with _connect(initialised, "crm_warehouse", "crm_warehouse") as wh:
        owners = {row[0] for row in wh.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname LIKE 'crm_%'")}
        assert owners == {"crm_warehouse"}
    with _connect(initialised, "marketing", "crm_marketing") as mk:
        tables = {row[0] for row in mk.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {"crm_marketing"}
        with mk.transaction():
            mk.execute("SET LOCAL crm_sync.origin = 'crm'")
            mk.execute("INSERT INTO people (email, contact_sf_id) VALUES ('ada@example.com', '003000000000001AAA')")
    with _connect(initialised, "marketing", "marketing_app") as app:
        app.execute("UPDATE people SET lead_score = 42 WHERE email = 'ada@example.com'")
        app.commit()
    with _connect(initialised, "marketing", "crm_marketing") as mk:
        assert mk.execute("SELECT tbl, fields FROM crm_outbox").fetchall() == [("people", ["lead_score"])]


@pytest.mark.parametrize(
    ("database", "role", "statement"),
    [
        ("marketing", "marketing_app", "DROP TABLE people"),
        ("marketing", "marketing_app", "CREATE TABLE app_own (id int)"),
        ("marketing", "crm_marketing", "CREATE DATABASE another"),
        ("crm_warehouse", "crm_warehouse", "CREATE ROLE another"),
        ("marketing", "crm_marketing", "CREATE ROLE another"),
    ],
)
def test_roles_cannot_do_more(initialised: EmbeddedPostgres, database: str, role: str, statement: str) -> None:
    with _connect(initialised, database, role) as conn:
        conn.autocommit = True
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


@pytest.mark.parametrize(
    ("database", "role"),
    [("airflow", "crm_warehouse"), ("marketing", "crm_warehouse"), ("crm_warehouse", "crm_marketing"),
     ("crm_warehouse", "marketing_app"), ("airflow", "marketing_app")],
)
def test_roles_connect_only_to_their_databases(initialised: EmbeddedPostgres, database: str, role: str) -> None:
    with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
        _connect(initialised, database, role).close()


def test_script_is_executable() -> None:
    assert os.access(Path(INIT_SCRIPT), os.X_OK), "the postgres image runs *.sh files only when executable"
