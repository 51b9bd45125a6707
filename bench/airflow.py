"""The Airflow scenarios' stack: a real API server, DAG processor and scheduler (LocalExecutor).

They run on the bench's throw-away stack with the configuration `make airflow` uses (the
stack's environment and `devstack.airflow_setup.TASK_START_SETTINGS`), except that the
scheduler creates no scheduled runs (`USE_JOB_SCHEDULE=False`): the bench triggers every run
itself, through the REST API, as a user would. `bench/timings.py` turns the metadata
database's task instances and the task logs into the per-task overheads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row

from devstack.airflow_services import AirflowServices, local_executor_overrides, service_env
from devstack.airflow_setup import (
    TASK_START_SETTINGS,
    ensure_salesforce_pool,
    ensure_ui_login,
    migrate_metadata_db,
)
from devstack.environment import AIRFLOW_UI_USER
from devstack.postgres import find_free_port

PARSE_TIMEOUT = 300
RUN_TIMEOUT = 3600


class AirflowStack:
    """Airflow's services on the bench stack, a REST API token, the metadata database."""

    def __init__(self, env: dict[str, str], log_dir: Path, say: Callable[[str], None]) -> None:
        self.say = say
        self.home = Path(env["AIRFLOW_HOME"])
        self.metadata_dsn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
            "postgresql+psycopg2://", "postgresql://", 1)
        self.port = find_free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        from cryptography.fernet import Fernet

        overrides = {**local_executor_overrides(self.port), **TASK_START_SETTINGS,
                     "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                     "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                     "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                     # the scheduler's log server: a free port, not the fixed default 8793
                     "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(find_free_port())}
        self.env = service_env(env, **overrides)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.services = AirflowServices(self.base_url, self.env, log_dir)
        self._token = ""

    def start(self, dag_ids: list[str]) -> None:
        """Migrate the metadata database, start the services, wait for the DAGs and a running scheduler, unpause."""
        self.say("bench: airflow: migrating the metadata database, starting api-server, dag-processor, scheduler")
        migrate_metadata_db(self.env)
        ensure_salesforce_pool(self.env)
        ensure_ui_login(self.home, AIRFLOW_UI_USER)
        api = self.services.start("api-server", "--port", str(self.port), "--host", "127.0.0.1", "--workers", "1")
        self.services.wait_healthy(api)
        for name in ("dag-processor", "scheduler"):
            self.services.start(name)
        self._wait("the DAGs parsed", lambda: len(self.metadata(
            "SELECT dag_id FROM dag WHERE dag_id = ANY(%s) AND is_stale IS NOT TRUE", dag_ids)) == len(dag_ids),
            PARSE_TIMEOUT)
        # An hourly run meets a scheduler that is up: wait for its first heartbeat after the
        # start (its start-up, the preload of Great Expectations included, is over by then).
        self._wait("the scheduler running", lambda: self.metadata(
            "SELECT 1 FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'"
            " AND latest_heartbeat > start_date + interval '1 second'"), PARSE_TIMEOUT)
        self._token = self._login()
        for dag_id in dag_ids:
            self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def stop(self) -> None:
        """Stop the services."""
        self.services.stop()

    def metadata(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a query on the metadata database."""
        with psycopg.connect(self.metadata_dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Call the REST API as the stack's UI user; returns the JSON answer."""
        response = requests.request(method, f"{self.base_url}{path}", timeout=60,
                                    headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        response.raise_for_status()
        return dict(response.json())

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run through the REST API; returns its run id."""
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                            json={"logical_date": None, "conf": conf or {}})["dag_run_id"])

    def wait_finished(self, runs: dict[str, str], timeout: float = RUN_TIMEOUT) -> dict[str, dict[str, Any]]:
        """Wait until every run (dag id → run id) succeeded or failed; return their dag_run rows."""
        def finished() -> dict[str, dict[str, Any]] | None:
            rows = {r["dag_id"]: r for r in self.metadata(
                "SELECT dag_id, run_id, state, queued_at, start_date, end_date FROM dag_run"
                " WHERE (dag_id, run_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                list(runs), list(runs.values()))}
            done = len(rows) == len(runs) and all(r["state"] in ("success", "failed") for r in rows.values())
            return rows if done else None

        return self._wait("the DAG runs finished", finished, timeout, poll=0.2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances with their timestamps, in start order."""
        return self.metadata(
            "SELECT task_id, map_index, state, try_number, scheduled_dttm, queued_dttm, start_date, end_date"
            " FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY start_date", dag_id, run_id)

    def xcom_count(self, dag_id: str, run_id: str) -> dict[str, int]:
        """XComs pushed per task of the run."""
        return {r["task_id"]: int(r["n"]) for r in self.metadata(
            "SELECT task_id, count(*) AS n FROM xcom WHERE dag_id = %s AND run_id = %s GROUP BY task_id",
            dag_id, run_id)}

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> Path:
        """The task's log file (Airflow's default layout)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        return folder / f"attempt={try_number}.log"

    def _login(self) -> str:
        import json

        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        response = requests.post(f"{self.base_url}/auth/token", timeout=30,
                                 json={"username": AIRFLOW_UI_USER, "password": passwords[AIRFLOW_UI_USER]})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def _wait(self, what: str, check: Callable[[], Any], timeout: float, poll: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.services.processes:
                process.check_alive()
            found = check()
            if found:
                return found
            time.sleep(poll)
        tails = "\n".join(f"--- {p.name}\n{p.tail(30)}" for p in self.services.processes)
        raise RuntimeError(f"{what}: not within {timeout:.0f} s\n{tails}")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in seconds, or ``None`` when either is missing."""
    return None if start is None or end is None else (end - start).total_seconds()
