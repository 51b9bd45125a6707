"""Prepare Airflow's metadata database and objects for a local stack.

Everything goes through Airflow's own CLI (``python -m airflow ...``) in a child process that
gets the stack's environment, so the caller's process never needs Airflow configured. The
checks that decide whether work is needed read the metadata database directly and are cheap,
which keeps a second ``devstack up`` fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Pool that bounds concurrent Salesforce API calls (STYLE.md practice 9).
SALESFORCE_POOL = "salesforce_api"
SALESFORCE_POOL_SLOTS = 8
SALESFORCE_POOL_DESCRIPTION = "Concurrent Salesforce API calls"

_MIGRATION_STAMP = ".crm_sync_migrated"

#: Scheduler and DAG processor settings of the stack's Airflow (`make airflow`, the benchmark's
#: Airflow scenarios), chosen for the time from trigger to a finished run; measured in
#: docs/performance.md ("Airflow scenarios").
TASK_START_SETTINGS: dict[str, str] = {
    # Five differential DAGs triggered together on two cores kept the API server busy past
    # the default 5 s: task processes timed out on their first call and went to retry.
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
}


class AirflowSetupError(RuntimeError):
    """An Airflow CLI command of the stack set-up failed."""


def run_airflow_cli(
    args: list[str], env: Mapping[str, str], *, python: str = sys.executable, timeout: float = 600
) -> str:
    """Run ``python -m airflow <args>`` with ``env`` on top of the current environment.

    Returns:
        The command's standard output.

    Raises:
        AirflowSetupError: Non-zero exit; the message holds the end of its output.
    """
    result = subprocess.run(
        [python, "-m", "airflow", *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise AirflowSetupError(
            f"`airflow {' '.join(args)}` failed (exit {result.returncode}):\n" + "\n".join(output[-30:])
        )
    return result.stdout


def _metadata_dsn(env: Mapping[str, str]) -> str:
    return env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)


def _current_revision(env: Mapping[str, str]) -> str | None:
    import psycopg

    with psycopg.connect(_metadata_dsn(env), connect_timeout=10) as conn:
        if conn.execute("SELECT to_regclass('public.alembic_version')").fetchone() == (None,):
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def metadata_is_current(env: Mapping[str, str]) -> bool:
    """Return whether ``airflow db migrate`` already ran for the installed Airflow version.

    The check compares the database's alembic revision with the one recorded (with the
    Airflow version) by our last migration, so it needs no Airflow import.
    """
    stamp = Path(env["AIRFLOW_HOME"]) / _MIGRATION_STAMP
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    revision = _current_revision(env)
    return revision is not None and recorded == {
        "airflow": version("apache-airflow-core"),
        "revision": revision,
    }


def migrate_metadata_db(env: Mapping[str, str], *, force: bool = False) -> bool:
    """Run ``airflow db migrate`` unless the database is already current.

    Returns:
        ``True`` when a migration ran.
    """
    if not force and metadata_is_current(env):
        return False
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    run_airflow_cli(["db", "migrate"], env)
    stamp = {"airflow": version("apache-airflow-core"), "revision": _current_revision(env)}
    (home / _MIGRATION_STAMP).write_text(json.dumps(stamp))
    return True


def pool_exists(
    env: Mapping[str, str], name: str = SALESFORCE_POOL, slots: int = SALESFORCE_POOL_SLOTS
) -> bool:
    """Return whether pool ``name`` exists with ``slots`` slots."""
    import psycopg

    with psycopg.connect(_metadata_dsn(env), connect_timeout=10) as conn:
        row = conn.execute("SELECT slots FROM slot_pool WHERE pool = %s", (name,)).fetchone()
    return row is not None and row[0] == slots


def ensure_salesforce_pool(env: Mapping[str, str]) -> bool:
    """Create (or resize) the ``salesforce_api`` pool with ``airflow pools set``.

    Returns:
        ``True`` when the pool was created or changed.
    """
    if pool_exists(env):
        return False
    run_airflow_cli(
        ["pools", "set", SALESFORCE_POOL, str(SALESFORCE_POOL_SLOTS), SALESFORCE_POOL_DESCRIPTION], env
    )
    return True


def ui_password_file(airflow_home: Path) -> Path:
    """Return the simple auth manager's passwords file in ``airflow_home``."""
    return Path(airflow_home) / "simple_auth_manager_passwords.json.generated"


def ensure_ui_login(airflow_home: Path, user: str = "admin", password: str = "admin") -> Path:
    """Give the local UI user a known password unless one was set before.

    Airflow's simple auth manager generates a random password per configured user on first
    start and keeps it in a JSON file in ``AIRFLOW_HOME``; a password already in that file is
    kept. Seeding the file makes the local stack's login predictable (local only: the API
    server of ``make airflow`` is for development).

    Returns:
        The passwords file (users may edit it to change the password).
    """
    path = ui_password_file(airflow_home)
    try:
        passwords = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        passwords = {}
    if user not in passwords:
        passwords[user] = password
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return path


# -- connections ----------------------------------------------------------------------------

#: Description of the connections the stack writes, shown in the Airflow UI.
STACK_CONNECTION_DESCRIPTION = (
    "Written by the crm-sync dev stack. Edit it freely: once changed here, `devstack up` "
    "leaves it alone (delete it to get the stack's definition back)."
)
_CONNECTIONS_STAMP = ".crm_sync_connections.json"

#: What :func:`ensure_connections` did with a connection.
CREATED, UPDATED, UNCHANGED, KEPT_EDITED, KEPT_FOREIGN = (
    "created", "updated", "unchanged", "kept: edited in Airflow", "kept: not written by the stack",
)  # fmt: skip


def _fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _stored_connections(env: Mapping[str, str], conn_ids: list[str]) -> dict[str, str]:
    """Connection id -> fingerprint of its row as stored in the metadata database."""
    import psycopg

    with psycopg.connect(_metadata_dsn(env), connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT conn_id, row_to_json(c)::text FROM connection c WHERE conn_id = ANY(%s)", (conn_ids,)
        ).fetchall()
    return {conn_id: _fingerprint(row) for conn_id, row in rows}


def _read_stamp(path: Path) -> dict[str, dict[str, str]]:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def ensure_connections(env: Mapping[str, str], connections: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Create or update the stack's connections in the metadata database, never a user's edit.

    The rule: a connection that is missing is created (``airflow connections import``). One
    the stack wrote and nobody changed since is updated when the stack's definition changed
    (a new port, say). One that was changed in Airflow since the stack wrote it (the UI,
    ``airflow connections``), or that the stack never wrote, is left as it is. To know, the
    stack records in ``AIRFLOW_HOME/.crm_sync_connections.json`` a fingerprint of each
    definition it wrote and of the row as stored after writing it (fingerprints only: no
    value, no password). Deleting a connection makes the next call recreate it.

    The check reads the metadata database directly and is cheap; the CLI runs only when
    something must be written.

    Args:
        env: The stack's environment (``AIRFLOW_HOME``, the metadata database URL).
        connections: Connection id -> definition (:func:`devstack.environment.stack_connections`).

    Returns:
        Connection id -> what was done (:data:`CREATED`, :data:`UPDATED`, :data:`UNCHANGED`,
        :data:`KEPT_EDITED`, :data:`KEPT_FOREIGN`).

    Raises:
        AirflowSetupError: The import failed or did not store a connection.
    """
    home = Path(env["AIRFLOW_HOME"])
    stamp_path = home / _CONNECTIONS_STAMP
    stamp = _read_stamp(stamp_path)
    stored = _stored_connections(env, list(connections))
    outcome: dict[str, str] = {}
    to_write: dict[str, dict[str, Any]] = {}
    for conn_id, definition in connections.items():
        wanted = _fingerprint(definition)
        recorded = stamp.get(conn_id) or {}
        if conn_id not in stored:
            outcome[conn_id] = CREATED
        elif recorded.get("stored") != stored[conn_id]:
            outcome[conn_id] = KEPT_EDITED if recorded else KEPT_FOREIGN
            continue
        elif recorded.get("definition") != wanted:
            outcome[conn_id] = UPDATED
        else:
            outcome[conn_id] = UNCHANGED
            continue
        to_write[conn_id] = {
            **{k: v for k, v in definition.items() if k != "extra"},
            **({"extra": json.dumps(definition["extra"])} if definition.get("extra") else {}),
            "description": STACK_CONNECTION_DESCRIPTION,
        }
    if to_write:
        home.mkdir(parents=True, exist_ok=True)
        import_file = home / ".crm_sync_connections.import.json"
        # The file holds the emulator's documented demo password: owner-only, removed at once.
        import_file.touch(mode=0o600)
        import_file.chmod(0o600)
        try:
            import_file.write_text(json.dumps(to_write))
            run_airflow_cli(["connections", "import", str(import_file), "--overwrite"], env)
        finally:
            import_file.unlink(missing_ok=True)
        stored = _stored_connections(env, list(connections))
        missing = sorted(set(to_write) - set(stored))
        if missing:
            raise AirflowSetupError(f"`airflow connections import` did not store {', '.join(missing)}")
        for conn_id in to_write:
            stamp[conn_id] = {"definition": _fingerprint(connections[conn_id]), "stored": stored[conn_id]}
        stamp_path.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    return outcome
