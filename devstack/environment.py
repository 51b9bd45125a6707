"""The environment a development stack runs in: Airflow settings and connections.

One function builds it for every consumer (``python -m devstack``, ``make airflow``,
the demo and the test fixtures), so they all see the same Airflow home, the same metadata
database and the same connection ids.

Where the connections live depends on the consumer. The dev stack (``make demo``,
``make airflow``, ``.local/env.sh``) keeps them in Airflow's metadata database, written by
``devstack up`` (:func:`devstack.airflow_setup.ensure_connections`), so that a connection
edited in the Airflow UI takes effect: an ``AIRFLOW_CONN_*`` variable would silently win over
it, because Airflow looks in the environment before its database. The test fixtures, whose
metadata database is new each session and which often run without it, get them as
``AIRFLOW_CONN_*`` variables (``connections_in_env=True``, the default).

The only credentials here are the emulator's documented defaults and a password-less,
trust-authenticated local PostgreSQL; nothing secret is generated or stored.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Airflow connection ids used by the DAGs (DESIGN.md §3).
SALESFORCE_CONN_ID = "salesforce_default"
WAREHOUSE_CONN_ID = "crm_warehouse"
MARKETING_CONN_ID = "marketing_db"

#: Databases on the embedded server.
WAREHOUSE_DATABASE = "crm_warehouse"
MARKETING_DATABASE = "marketing"
AIRFLOW_DATABASE = "airflow"
STACK_DATABASES = (WAREHOUSE_DATABASE, MARKETING_DATABASE, AIRFLOW_DATABASE)

#: The emulator's documented demo login (see the emulator README); not a real secret.
EMULATOR_LOGIN = "etl@example.com"
EMULATOR_PASSWORD = "emulator-password"
EMULATOR_SECURITY_TOKEN = "emulator-token"
SALESFORCE_API_VERSION = "59.0"

#: Airflow UI login configured for the local stack (simple auth manager).
AIRFLOW_UI_USER = "admin"

_SECRET_MARKERS = ("PASSWORD", "SECRET", "TOKEN")
#: Variables that extend the caller's value instead of replacing it, with their separator.
_EXTENDED_VARIABLES = {"PATH": os.pathsep, "PYTHONPATH": os.pathsep, "NO_PROXY": ",", "no_proxy": ","}


def postgres_connection_uri(port: int, database: str) -> str:
    """Return the SQLAlchemy URL of ``database`` on the embedded server (psycopg2 driver)."""
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}"


def _postgres_connection(port: int, database: str) -> dict[str, Any]:
    return {"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "postgres", "schema": database}


def _salesforce_connection(emulator_url: str) -> dict[str, Any]:
    host = emulator_url.split("://", 1)[-1].rstrip("/")
    return {
        "conn_type": "salesforce",
        "login": EMULATOR_LOGIN,
        "password": EMULATOR_PASSWORD,
        "extra": {
            "security_token": EMULATOR_SECURITY_TOKEN,
            "domain": f"{host}/login",
            "version": SALESFORCE_API_VERSION,
        },
    }


def stack_connections(pg_port: int, emulator_url: str | None) -> dict[str, dict[str, Any]]:
    """The stack's Airflow connections: connection id -> definition (Airflow's JSON form).

    Args:
        pg_port: TCP port of the embedded PostgreSQL on 127.0.0.1.
        emulator_url: Base URL of the Salesforce emulator; ``None`` leaves ``salesforce_default`` out.
    """
    connections = {
        WAREHOUSE_CONN_ID: _postgres_connection(pg_port, WAREHOUSE_DATABASE),
        MARKETING_CONN_ID: _postgres_connection(pg_port, MARKETING_DATABASE),
    }
    if emulator_url:
        connections[SALESFORCE_CONN_ID] = _salesforce_connection(emulator_url)
    return connections


#: How the dev stack's own processes resolve connections. Outside a task, Airflow's task SDK
#: (``BaseHook.get_connection``) reads only the environment unless the process says it is a
#: server component, as the scheduler and the API server do; then it reads the metadata
#: database too. The demo's main process (and any ``python``/``airflow`` command run after
#: ``source .local/env.sh``) reads the warehouse through the connection ids, so it says so.
#: Tasks are unaffected: they always ask the execution API, which reads the database.
METADATA_CONNECTION_LOOKUP = {"_AIRFLOW_PROCESS_CONTEXT": "server"}


def connection_env_var(conn_id: str) -> str:
    """The ``AIRFLOW_CONN_<ID>`` variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _prepend_path(entries: list[str], existing: str | None) -> str:
    parts = list(entries)
    for part in (existing or "").split(os.pathsep):
        if part and part not in parts:
            parts.append(part)
    return os.pathsep.join(parts)


def _merge_no_proxy(existing: str | None) -> str:
    parts = ["127.0.0.1", "localhost"]
    for part in (existing or "").split(","):
        part = part.strip()
        if part and part not in parts:
            parts.append(part)
    return ",".join(parts)


def build_stack_env(
    project_root: Path,
    base_dir: Path,
    pg_port: int,
    emulator_url: str | None,
    cert_path: Path | None,
    *,
    base_env: Mapping[str, str] | None = None,
    bin_dir: Path | None = None,
    connections_in_env: bool = True,
) -> dict[str, str]:
    """Build the environment variables of one stack.

    Args:
        project_root: The repository root (holds ``dags/``, ``plugins/``, ``include/``).
        base_dir: Where the stack keeps its state (``.local`` for the dev stack, a temporary
            directory in tests); Airflow's home is ``base_dir/airflow``.
        pg_port: TCP port of the embedded PostgreSQL on 127.0.0.1.
        emulator_url: Base URL of the Salesforce emulator, e.g. ``https://127.0.0.1:8443``;
            ``None`` leaves the Salesforce connection out.
        cert_path: The emulator's certificate (``REQUESTS_CA_BUNDLE``); ``None`` leaves it out.
        base_env: Environment whose ``PYTHONPATH``, ``PATH`` and ``NO_PROXY`` are extended
            (default: ``os.environ``).
        bin_dir: Directory put first on ``PATH`` (the virtualenv's ``bin``, so that the
            ``airflow`` command that ``airflow standalone`` spawns is found).
        connections_in_env: Put the connections in ``AIRFLOW_CONN_*`` variables (the test
            fixtures). The dev stack passes ``False`` and keeps them in the metadata database
            instead (:func:`stack_connections`), so that edits in the Airflow UI take effect.

    Returns:
        Variable name → value; apply it on top of the current environment.
    """
    root = Path(project_root).absolute()
    base = Path(base_dir).absolute()
    current = os.environ if base_env is None else base_env
    no_proxy = _merge_no_proxy(current.get("NO_PROXY") or current.get("no_proxy"))
    env = {
        "CRM_PROJECT_ROOT": str(root),
        "CRM_STACK_DIR": str(base),
        "CRM_PG_PORT": str(pg_port),
        "AIRFLOW_HOME": str(base / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Airflow's own default, made explicit: a DAG new to the stack waits, paused, until
        # someone unpauses it (the UI's toggle, `airflow dags unpause`); `dag.test()` (the demo,
        # the tests) runs DAGs whether paused or not.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_UI_USER}:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_connection_uri(pg_port, AIRFLOW_DATABASE),
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "PYTHONPATH": _prepend_path(
            [str(root / "plugins"), str(root / "dags"), str(root)], current.get("PYTHONPATH")
        ),
        # Requests to the local emulator and API server must never go through a proxy.
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    if bin_dir is not None:
        env["PATH"] = _prepend_path([str(Path(bin_dir).absolute())], current.get("PATH"))
    if emulator_url:
        env["CRM_EMULATOR_URL"] = emulator_url.rstrip("/")
    if connections_in_env:
        for conn_id, definition in stack_connections(pg_port, emulator_url).items():
            env[connection_env_var(conn_id)] = json.dumps(definition)
    else:
        env.update(METADATA_CONNECTION_LOOKUP)
    if cert_path is not None:
        env["REQUESTS_CA_BUNDLE"] = str(Path(cert_path).absolute())
    return env


def write_env_file(env: Mapping[str, str], path: Path) -> Path:
    """Write ``env`` as a shell script of ``export`` lines that users can ``source``.

    Build ``env`` with ``base_env={}`` for this: search paths (``PATH``, ``PYTHONPATH``) and
    ``NO_PROXY`` then hold only the stack's own entries, and the script puts them in front of
    the values of the shell that sources it.
    """
    lines = [
        "# Environment of the local crm-sync stack; written by `python -m devstack up`.",
        "# Use: source .local/env.sh   (then `airflow ...`, `python ...` use the same services)",
    ]
    for key, value in sorted(env.items()):
        separator = _EXTENDED_VARIABLES.get(key)
        if separator is None:
            lines.append(f"export {key}={shlex.quote(value)}")
        else:
            lines.append(f'export {key}={shlex.quote(value)}"${{{key}:+{separator}${key}}}"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def redacted(env: Mapping[str, str]) -> dict[str, str]:
    """Return ``env`` with passwords in connection definitions masked, for printing."""
    masked: dict[str, str] = {}
    for key, value in env.items():
        if key.startswith("AIRFLOW_CONN_") and value.startswith("{"):
            conn = json.loads(value)
            if conn.get("password"):
                conn["password"] = "***"
            extra = conn.get("extra")
            if isinstance(extra, dict):
                conn["extra"] = {
                    k: ("***" if any(m in k.upper() for m in _SECRET_MARKERS) else v)
                    for k, v in extra.items()
                }
            value = json.dumps(conn)
        elif any(marker in key.upper() for marker in _SECRET_MARKERS):
            value = "***"
        masked[key] = value
    return masked
