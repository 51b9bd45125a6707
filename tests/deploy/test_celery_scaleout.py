"""The Celery scale-out: every sync DAG at once on two workers, with the same result as on one.

Runs the native topology of ``make airflow-celery`` (``devstack.celery_stack``): API server,
scheduler, DAG processor, triggerer and Celery workers with a Redis broker, on the session's
PostgreSQL (a metadata database and sync databases of their own) and emulator. Everything
goes through Airflow's REST API (v2), as an operator's tooling would.

The reference is the same scenario on one worker; the databases are then dropped and
created anew, a second worker joins, and the scenario runs again. Both times the five
differentials, a full sync and a write-back are triggered together. The assertions follow
what docs/operations.md documents for a full sync: while it holds its lock, differential
runs (and the write-back) finish as *skipped*, with a sync log row naming the full sync.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pytest

from devstack.airflow_setup import ensure_salesforce_pool, ensure_ui_login, migrate_metadata_db
from devstack.celery_stack import CeleryStack
from devstack.environment import AIRFLOW_UI_USER, postgres_connection_uri
from devstack.postgres import EmbeddedPostgres
from tests.fixtures.stack import PROJECT_ROOT, TestStack

OBJECTS = ("account", "campaign", "campaignmember", "contact", "lead", "opportunity")
DIFFERENTIALS = tuple(f"crm_differential_{name}" for name in OBJECTS)
FULL_SYNC = "crm_full_sync"
WRITEBACK = "crm_writeback"
ALL_DAGS = (*DIFFERENTIALS, FULL_SYNC, WRITEBACK)
# campaign_members is left out: its person_id is a people.id, which differs between any two runs.
MARKETING_TABLES = ("people", "accounts", "opportunities", "campaigns")
#: Columns the sync sets from the clock or a sequence: they differ between any two runs.
VOLATILE_COLUMNS = ("id", "created_at", "updated_at", "archived_at")

METADATA_DB, WAREHOUSE_DB, MARKETING_DB = "celery_airflow", "celery_warehouse", "celery_marketing"
DAGS_PARSED_TIMEOUT = 240
RUNS_TIMEOUT = 600

pytestmark = pytest.mark.timeout(1500)


def _postgres_conn(port: int, database: str) -> str:
    return json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "postgres", "schema": database}
    )


class AirflowApi:
    """A minimal client of Airflow's REST API (v2) with a token from the auth manager."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        token = self._request("POST", "/auth/token", {"username": username, "password": password}, token=None)
        self._token = token["access_token"]

    def _request(self, method: str, path: str, body: Any = None, *, token: str | None = "") -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        bearer = self._token if token == "" else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code}: {error.read()[:500]!r}") from error

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, body)


@dataclass
class Topology:
    """The running Celery topology and what a scenario needs to drive and inspect it."""

    stack: CeleryStack
    api: AirflowApi
    pg_server: EmbeddedPostgres

    def reset_sync_databases(self) -> None:
        """Drop and re-create the warehouse and marketing databases (empty, unmigrated)."""
        with psycopg.connect(self.pg_server.dsn("postgres"), autocommit=True) as admin:
            for database in (WAREHOUSE_DB, MARKETING_DB):
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                admin.execute(f'CREATE DATABASE "{database}"')


@pytest.fixture(scope="module")
def topology(test_stack: TestStack, pg_server: EmbeddedPostgres, emulator: Any) -> Iterator[Topology]:
    """The topology with one worker (``worker-1``), the DAGs parsed and unpaused."""
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{METADATA_DB}" WITH (FORCE)')
    for database in (METADATA_DB, WAREHOUSE_DB, MARKETING_DB):
        pg_server.ensure_database(database)
    state_dir = test_stack.base_dir / "celery"
    env = {
        **test_stack.env,
        "AIRFLOW_HOME": str(state_dir / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_connection_uri(pg_server.port, METADATA_DB),
        "AIRFLOW_CONN_CRM_WAREHOUSE": _postgres_conn(pg_server.port, WAREHOUSE_DB),
        "AIRFLOW_CONN_MARKETING_DB": _postgres_conn(pg_server.port, MARKETING_DB),
        "CRM_SYNC_SAFETY_LAG_SECONDS": "0",
        "CRM_SYNC_TASK_RETRIES": "0",  # a failure shows at once
    }
    assert env["AIRFLOW_CONN_SALESFORCE_DEFAULT"], "the emulator fixture sets the Salesforce connection"
    migrate_metadata_db(env)
    ensure_salesforce_pool(env)
    password_file = ensure_ui_login(state_dir / "airflow", AIRFLOW_UI_USER)
    password = json.loads(password_file.read_text())[AIRFLOW_UI_USER]

    stack = CeleryStack(
        base_env={**test_stack.saved_environ, **env}, state_dir=state_dir, root=PROJECT_ROOT, scheduled=False
    )
    try:
        stack.start_redis()
        stack.start_servers()
        stack.start_worker("worker-1")
        stack.wait_until_healthy(timeout=240)
        stack.wait_for_worker("worker-1", timeout=120)
        api = AirflowApi(stack.api_url, AIRFLOW_UI_USER, password)
        _wait_for_dags(api, stack)
        for dag_id in ALL_DAGS:
            assert api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})["is_paused"] is False
        yield Topology(stack, api, pg_server)
    finally:
        stack.stop()


def _wait_for_dags(api: AirflowApi, stack: CeleryStack) -> None:
    deadline = time.monotonic() + DAGS_PARSED_TIMEOUT
    found: set[str] = set()
    while True:
        found = {d["dag_id"] for d in api.get("/api/v2/dags?dag_id_pattern=crm_&limit=100")["dags"]}
        if set(ALL_DAGS) <= found:
            return
        stack.check_running()
        if time.monotonic() > deadline:
            errors = api.get("/api/v2/importErrors")
            raise AssertionError(f"DAGs not parsed in {DAGS_PARSED_TIMEOUT}s: missing "
                                 f"{sorted(set(ALL_DAGS) - found)}; import errors: {errors}")
        time.sleep(2)


@dataclass
class ScenarioResult:
    """What one scenario produced: DAG runs, task instances, the sync log, marketing hashes."""

    runs: dict[str, dict[str, Any]]
    task_instances: dict[str, list[dict[str, Any]]]
    sync_runs: list[dict[str, Any]]
    marketing: dict[str, tuple[int, str]]
    rows: dict[str, list[str]]
    seconds: float


def _run_scenario(topology: Topology) -> ScenarioResult:
    """Trigger all seven DAGs at once, wait (bounded) until every run has finished."""
    api = topology.api
    began = time.monotonic()
    triggered = {
        dag_id: api.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
        for dag_id in ALL_DAGS
    }
    deadline = time.monotonic() + RUNS_TIMEOUT
    runs: dict[str, dict[str, Any]] = {}
    wanted = {run_id: dag_id for dag_id, run_id in triggered.items()}
    while len(runs) < len(triggered):
        listed = api.get("/api/v2/dags/~/dagRuns?limit=100&order_by=-run_after")["dag_runs"]
        for run in listed:
            if wanted.get(run["dag_run_id"]) == run["dag_id"] and run["state"] in ("success", "failed"):
                runs[run["dag_id"]] = run
        topology.stack.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"runs not finished in {RUNS_TIMEOUT}s: {sorted(set(triggered) - set(runs))}")
        time.sleep(3)
    seconds = time.monotonic() - began
    task_instances = {
        dag_id: api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances?limit=100")[
            "task_instances"
        ]
        for dag_id, run in runs.items()
    }
    with psycopg.connect(topology.pg_server.dsn(WAREHOUSE_DB)) as wh:
        cursor = wh.execute(
            "SELECT run_id, object, kind, dag_run_id, status, error, started_at, finished_at"
            " FROM crm_sync.sync_runs ORDER BY run_id"
        )
        columns = [c.name for c in cursor.description or ()]
        sync_runs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    with psycopg.connect(topology.pg_server.dsn(MARKETING_DB)) as mk:
        rows = {table: _table_rows(mk, table) for table in MARKETING_TABLES}
    marketing = {
        table: (len(content), hashlib.sha256("\n".join(content).encode()).hexdigest())
        for table, content in rows.items()
    }
    return ScenarioResult(runs, task_instances, sync_runs, marketing, rows, seconds)


def _table_rows(conn: psycopg.Connection, table: str) -> list[str]:
    """The table's rows as sorted JSON lines, without clock- or sequence-set columns."""
    columns = [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = %s ORDER BY column_name",
            (table,),
        )
        if row[0] not in VOLATILE_COLUMNS
    ]
    assert columns, f"marketing table {table} does not exist"
    select = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.execute(f'SELECT {select} FROM "{table}"')
    return sorted(json.dumps(dict(zip(columns, row, strict=True)), default=str) for row in cursor)


def _check_documented_outcomes(result: ScenarioResult) -> None:
    """Every run succeeded; a skipped one is exactly the documented full-sync skip."""
    states = {dag_id: run["state"] for dag_id, run in result.runs.items()}
    assert states == dict.fromkeys(ALL_DAGS, "success"), states
    full_sync_run = result.runs[FULL_SYNC]["dag_run_id"]
    full_states = {ti["task_id"]: ti["state"] for ti in result.task_instances[FULL_SYNC]}
    assert set(full_states.values()) == {"success"}, full_states
    mapped = [ti for ti in result.task_instances[FULL_SYNC] if ti["task_id"] == "sync_object"]
    assert len(mapped) == len(OBJECTS)

    by_dag_run: dict[str, list[dict[str, Any]]] = {}
    for row in result.sync_runs:
        by_dag_run.setdefault(row["dag_run_id"], []).append(row)
    for dag_id in (*DIFFERENTIALS, WRITEBACK):
        run_id = result.runs[dag_id]["dag_run_id"]
        task_states = {ti["task_id"]: ti["state"] for ti in result.task_instances[dag_id]}
        logged = by_dag_run.get(run_id, [])
        assert logged, f"{dag_id} {run_id} wrote no sync log row"
        if "skipped" in task_states.values():
            # docs/operations.md: "differential runs finish as *skipped* and their sync log row
            # says why" (the write-back does the same); a differential skips at its extract
            # (which prepares first, whenever the full sync took its lock), the write-back at
            # its prepare, and every task after is skipped too.
            skipped_from = "extract" if dag_id in DIFFERENTIALS else "prepare"
            assert task_states.get(skipped_from) == "skipped", (dag_id, task_states)
            assert set(task_states.values()) == {"skipped"}, (dag_id, task_states)
            assert {row["status"] for row in logged} == {"skipped"}, logged
            assert all(full_sync_run in (row["error"] or "") for row in logged), logged
        else:
            assert set(task_states.values()) == {"success"}, (dag_id, task_states)
            assert {row["status"] for row in logged} == {"succeeded"}, (dag_id, logged)


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    end_a: datetime = a["finished_at"]
    end_b: datetime = b["finished_at"]
    return a["started_at"] < end_b and b["started_at"] < end_a


def _check_no_collisions(result: ScenarioResult) -> None:
    """No two runs that load the same object from Salesforce overlapped in time, but the one
    case docs/deployment.md ("Concurrency") documents.

    That case: a differential whose ``extract`` had passed the lock check before the full sync
    took the lock runs to its end next to the full sync (both upsert idempotently, the
    watermark only moves forward). So an overlap is allowed only between a differential and
    the full sync, and only if the differential's ``extract`` started before ``take_lock``
    finished. Skipped runs did nothing (logged at the moment they skip). The write-back
    (``kind = 'writeback'``) writes Salesforce, not marketing tables, and runs alongside the
    differentials by design (docs/writeback.md); one row per object and run.
    """
    run_to_dag = {run["dag_run_id"]: dag_id for dag_id, run in result.runs.items()}
    started = {
        (dag_id, ti["task_id"]): ti["start_date"]
        for dag_id, instances in result.task_instances.items()
        for ti in instances
    }
    lock_taken = datetime.fromisoformat(
        next(ti["end_date"] for ti in result.task_instances[FULL_SYNC] if ti["task_id"] == "take_lock")
    )

    def checked_lock_before_it_was_taken(run: dict[str, Any]) -> bool:
        extract = started[(run_to_dag[run["dag_run_id"]], "extract")]
        return run["kind"] == "differential" and datetime.fromisoformat(extract) < lock_taken

    inbound = [r for r in result.sync_runs if r["kind"] != "writeback" and r["status"] != "skipped"]
    assert all(r["finished_at"] is not None for r in inbound), inbound
    for i, first in enumerate(inbound):
        for second in inbound[i + 1 :]:
            if first["object"] != second["object"] or not _overlaps(first, second):
                continue
            kinds = {first["kind"], second["kind"]}
            differential = first if first["kind"] == "differential" else second
            assert kinds == {"differential", "full"} and checked_lock_before_it_was_taken(differential), (
                f"{first['object']} runs collided: {first} / {second}"
            )
    writebacks = [r for r in result.sync_runs if r["kind"] == "writeback"]
    assert len({r["object"] for r in writebacks}) == len(writebacks), writebacks


def _hostnames(result: ScenarioResult) -> set[str]:
    return {
        ti["hostname"]
        for instances in result.task_instances.values()
        for ti in instances
        if ti["state"] == "success"
    }


def test_all_syncs_at_once_on_two_workers_match_one_worker(topology: Topology) -> None:
    one_worker = _run_scenario(topology)
    _check_documented_outcomes(one_worker)
    _check_no_collisions(one_worker)
    assert _hostnames(one_worker) == {"worker-1"}
    assert all(count > 0 for count, _ in one_worker.marketing.values()), one_worker.marketing

    topology.reset_sync_databases()
    topology.stack.start_worker("worker-2")
    topology.stack.wait_for_worker("worker-2", timeout=120)

    two_workers = _run_scenario(topology)
    _check_documented_outcomes(two_workers)
    _check_no_collisions(two_workers)
    assert _hostnames(two_workers) == {"worker-1", "worker-2"}
    for table in MARKETING_TABLES:
        only_one = sorted(set(one_worker.rows[table]) - set(two_workers.rows[table]))
        only_two = sorted(set(two_workers.rows[table]) - set(one_worker.rows[table]))
        assert two_workers.marketing[table] == one_worker.marketing[table], (
            f"{table} differs: one worker only {only_one[:3]}; two workers only {only_two[:3]}"
        )
    print(f"one worker: {one_worker.seconds:.1f}s, two workers: {two_workers.seconds:.1f}s")
