"""The development stack: embedded PostgreSQL, the stack environment, and the dag.test() harness."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import psycopg
import pytest

from devstack.environment import build_stack_env, redacted, write_env_file
from devstack.postgres import EmbeddedPostgres, PostgresError, find_free_port
from devstack.services import DevStack, StackError
from tests.fixtures.stack import PROJECT_ROOT, TestStack

SMOKE_DAGS = PROJECT_ROOT / "tests" / "dags_smoke"


def test_postgres_start_is_idempotent_and_stop_works(test_stack: TestStack) -> None:
    server = EmbeddedPostgres(test_stack.base_dir / "pg-lifecycle", find_free_port(), fsync=False)
    try:
        server.start()
        assert server.is_running()
        started_pid = server._running_pid()

        began = time.monotonic()
        server.start()  # running already: nothing happens
        assert time.monotonic() - began < 1
        assert server._running_pid() == started_pid

        assert server.ensure_database("lifecycle") is True
        assert server.ensure_database("lifecycle") is False
        with psycopg.connect(server.dsn("lifecycle")) as conn:
            assert conn.execute("SELECT current_database(), inet_server_port()").fetchone() == (
                "lifecycle",
                server.port,
            )

        other_port = EmbeddedPostgres(server.data_dir, find_free_port())
        with pytest.raises(PostgresError, match="already runs on port"):
            other_port.start()
    finally:
        server.stop()
    assert not server.is_running()
    server.stop()  # stopped already: nothing happens

    server.start()  # the cluster is kept across restarts
    try:
        assert server.ensure_database("lifecycle") is False
    finally:
        server.stop()


def test_postgres_start_failure_shows_the_server_log(test_stack: TestStack) -> None:
    server = EmbeddedPostgres(
        test_stack.base_dir / "pg-broken", find_free_port(), settings={"shared_buffers": "not-a-size"}
    )
    with pytest.raises(PostgresError) as failure:
        server.start(timeout=20)
    assert "server log" in str(failure.value)
    assert "shared_buffers" in str(failure.value)
    assert not server.is_running()


def test_stack_env_resolves_connections_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk import BaseHook

    env = build_stack_env(
        PROJECT_ROOT, tmp_path, 55432, "https://127.0.0.1:9443", tmp_path / "cert.pem", base_env={}
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    warehouse = BaseHook.get_connection("crm_warehouse")
    assert (warehouse.conn_type, warehouse.host, warehouse.port, warehouse.schema, warehouse.login) == (
        "postgres",
        "127.0.0.1",
        55432,
        "crm_warehouse",
        "postgres",
    )
    marketing = BaseHook.get_connection("marketing_db")
    assert (marketing.port, marketing.schema) == (55432, "marketing")

    salesforce = BaseHook.get_connection("salesforce_default")
    assert salesforce.conn_type == "salesforce"
    assert salesforce.login == "etl@example.com"
    assert salesforce.extra_dejson["domain"] == "127.0.0.1:9443/login"
    assert salesforce.extra_dejson["version"] == "59.0"

    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:55432/airflow")
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["REQUESTS_CA_BUNDLE"] == str(tmp_path / "cert.pem")
    assert env["PYTHONPATH"].split(":")[:3] == [
        str(PROJECT_ROOT / "plugins"),
        str(PROJECT_ROOT / "dags"),
        str(PROJECT_ROOT),
    ]
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"


def test_the_dev_stack_keeps_connections_out_of_the_environment(tmp_path: Path) -> None:
    stack = DevStack(root=PROJECT_ROOT, base_dir=tmp_path, pg_port=55432, emulator_port=9443)
    env = stack.env(base_env={})
    assert [key for key in env if key.startswith("AIRFLOW_CONN_")] == []
    assert env["_AIRFLOW_PROCESS_CONTEXT"] == "server"  # its processes read the metadata database
    assert "AIRFLOW_CONN_" not in write_env_file(env, tmp_path / "env.sh").read_text()
    assert sorted(stack.connections()) == ["crm_warehouse", "marketing_db", "salesforce_default"]
    assert stack.connections()["crm_warehouse"]["port"] == 55432
    assert stack.console_url == "http://localhost:8080/plugin/crm-sync"


def test_env_file_is_sourceable_and_printing_masks_passwords(tmp_path: Path) -> None:
    import subprocess

    env = build_stack_env(PROJECT_ROOT, tmp_path, 55432, "https://127.0.0.1:9443", None, base_env={})
    script = write_env_file(env, tmp_path / "env.sh")
    shown = subprocess.run(
        ["bash", "-c", f'source {script} && printf %s "$AIRFLOW_CONN_SALESFORCE_DEFAULT"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(shown) == json.loads(env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])

    masked = redacted(env)
    assert "emulator-password" not in json.dumps(masked)
    assert "emulator-token" not in json.dumps(masked)
    assert json.loads(masked["AIRFLOW_CONN_SALESFORCE_DEFAULT"])["login"] == "etl@example.com"


def _load_smoke_dag():
    spec = importlib.util.spec_from_file_location("smoke_stack", SMOKE_DAGS / "smoke_stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.smoke_stack_dag


def test_dag_test_runs_on_the_postgres_metadata_db(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow import settings
    from airflow.utils.state import DagRunState, TaskInstanceState

    # dag.test() first syncs the dags folder (the "dags-folder" bundle) to the metadata DB and
    # refuses DAGs it did not find there. Airflow read the folder at import, so point both
    # the setting and its import-time copy at the smoke DAGs.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(SMOKE_DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(SMOKE_DAGS))
    assert stack_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airflow")

    dag = _load_smoke_dag()
    dag_run = dag.test()

    assert dag_run.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"query_warehouse": TaskInstanceState.SUCCESS, "check": TaskInstanceState.SUCCESS}


_CONNECTION_PROBE_DAG = '''
"""Test DAG: fails unless crm_warehouse points at the database the edit in Airflow chose."""
from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="connection_probe", schedule=None, catchup=False)
def connection_probe() -> None:
    @task
    def which_database() -> str:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        name = PostgresHook(postgres_conn_id="crm_warehouse").get_first("SELECT current_database()")[0]
        if name != "marketing":
            raise ValueError(f"crm_warehouse reached {name!r}, not the edited 'marketing'")
        return name

    which_database()


connection_probe_dag = connection_probe()
'''


def _metadata_sql(env: dict[str, str], statement: str, *params: object) -> int:
    """Run one statement on Airflow's metadata database; return the rows it touched."""
    dsn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(statement, params).rowcount


def test_connections_are_written_to_the_metadata_db_and_an_edit_there_wins(
    stack_env: dict[str, str], test_stack: TestStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from airflow import settings
    from airflow.utils.state import DagRunState

    from devstack.airflow_setup import CREATED, KEPT_EDITED, UNCHANGED, UPDATED, ensure_connections
    from devstack.environment import METADATA_CONNECTION_LOOKUP, stack_connections

    # The dev stack's environment: the metadata database, no AIRFLOW_CONN_* variables.
    env = {k: v for k, v in stack_env.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(METADATA_CONNECTION_LOOKUP, AIRFLOW_HOME=str(tmp_path / "airflow"))
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(key)
    conns = stack_connections(test_stack.pg_port, None)
    try:
        assert ensure_connections(env, conns) == {"crm_warehouse": CREATED, "marketing_db": CREATED}
        began = time.monotonic()
        assert ensure_connections(env, conns) == {"crm_warehouse": UNCHANGED, "marketing_db": UNCHANGED}
        assert time.monotonic() - began < 2  # read from the database, no CLI start-up

        # A user points crm_warehouse at another database in the UI...
        # (the UI's form stores into this row; host, schema and port are stored in clear).
        assert _metadata_sql(env, "UPDATE connection SET schema = 'marketing' WHERE conn_id = 'crm_warehouse'") == 1
        # ...and the stack's definitions change (say, a new PostgreSQL port): the stack updates
        # what it owns and leaves the edited connection alone.
        moved = stack_connections(test_stack.pg_port + 1, None)
        assert ensure_connections(env, moved) == {"crm_warehouse": KEPT_EDITED, "marketing_db": UPDATED}
        assert ensure_connections(env, moved) == {"crm_warehouse": KEPT_EDITED, "marketing_db": UNCHANGED}

        # A process of the stack (the demo, `airflow ...` after `source .local/env.sh`) sees the edit...
        probe = subprocess.run(
            [sys.executable, "-c", "from airflow.sdk import BaseHook; "
             "c = BaseHook.get_connection('crm_warehouse'); print(c.schema, c.port)"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}, **env},
            capture_output=True, text=True, timeout=120, check=True,
        )
        assert probe.stdout.split()[-2:] == ["marketing", str(test_stack.pg_port)], probe.stderr[-2000:]

        # ...and so does a task of a DAG run.
        dags = tmp_path / "dags"
        dags.mkdir()
        (dags / "connection_probe.py").write_text(_CONNECTION_PROBE_DAG)
        monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
        monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
        namespace: dict[str, object] = {"__name__": "connection_probe"}
        exec(compile(_CONNECTION_PROBE_DAG, str(dags / "connection_probe.py"), "exec"), namespace)
        dag_run = namespace["connection_probe_dag"].test()  # type: ignore[attr-defined]
        assert dag_run.state == DagRunState.SUCCESS

        # What the stack remembers of what it wrote: fingerprints only, no values.
        stamp = json.loads((tmp_path / "airflow" / ".crm_sync_connections.json").read_text())
        assert sorted(stamp) == ["crm_warehouse", "marketing_db"]
        assert {len(v) for entry in stamp.values() for v in entry.values()} == {64}  # sha256 hex
        assert "postgres" not in json.dumps(stamp)
    finally:
        _metadata_sql(env, "DELETE FROM connection WHERE conn_id = ANY(%s)", list(conns))


def test_airflow_plugin_loader_skips_the_library() -> None:
    """Airflow imports every .py under plugins/ as a top-level module unless ignored."""
    from airflow._shared.module_loading.file_discovery import find_path_from_directory

    loaded = list(find_path_from_directory(PROJECT_ROOT / "plugins", ".airflowignore"))
    assert [path for path in loaded if "crm_sync" in path] == []


def test_devstack_up_is_idempotent_and_down_stops_everything(test_stack: TestStack) -> None:
    from devstack.airflow_setup import metadata_is_current, pool_exists

    stack = DevStack(
        root=PROJECT_ROOT,
        base_dir=test_stack.base_dir / "devstack",
        pg_port=find_free_port(),
        emulator_port=find_free_port(),
        airflow_port=find_free_port(),
        demo_records=50,
    )
    said: list[str] = []
    try:
        env = stack.up(say=said.append)
        status = stack.status()
        assert status["postgres"].startswith("running"), status
        assert status["emulator"].startswith(f"running at https://127.0.0.1:{stack.emulator_port}"), status
        assert metadata_is_current(env)
        assert pool_exists(env)
        assert (stack.emulator_dir / "cert.pem").exists()
        assert f"export CRM_PG_PORT={stack.pg_port}" in stack.env_file.read_text()
        assert "AIRFLOW_CONN_" not in stack.env_file.read_text()
        assert any(
            line == "Airflow connections created in the metadata database: "
            "crm_warehouse, marketing_db, salesforce_default"
            for line in said
        ), said
        with psycopg.connect(stack.postgres.dsn("marketing")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        said.clear()
        began = time.monotonic()
        assert stack.up(say=said.append) == env
        assert time.monotonic() - began < 5, said
        assert any("already running" in line for line in said), said
        assert not any("migrated" in line or "created" in line for line in said), said
    finally:
        stack.down(say=said.append)
    assert set(stack.status().values()) == {"stopped"}
    stack.down(say=said.append)  # stopped already: nothing happens


def test_devstack_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PG_PORT", "5432x")
    with pytest.raises(StackError, match="CRM_PG_PORT='5432x' is invalid: expected a whole number from 1024"):
        DevStack.from_environ()
    monkeypatch.setenv("CRM_PG_PORT", "")
    monkeypatch.setenv("CRM_DEMO_RECORDS", "0")
    with pytest.raises(StackError, match="CRM_DEMO_RECORDS"):
        DevStack.from_environ()
    monkeypatch.setenv("CRM_DEMO_RECORDS", "200")
    monkeypatch.delenv("CRM_STACK_DIR")
    stack = DevStack.from_environ()
    assert (stack.pg_port, stack.demo_records, stack.base_dir) == (54329, 200, PROJECT_ROOT / ".local")
