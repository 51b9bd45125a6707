"""Fixtures of the browser tests: a real Airflow (API server with the console, scheduler),
warehouse and marketing databases seeded by real syncs, and Chromium driven by Playwright.

One module-scoped stack serves all browser tests (starting Airflow dominates their cost):

- the warehouse and marketing databases are fresh and migrated, and filled by real runs:
  `crm_differential_contact` and `crm_writeback` with `dag.test()` against the emulator;
- Airflow's simple auth manager has two users, `admin` (role admin) and `viewer` (role
  viewer), with passwords generated per session into a passwords file;
- `airflow api-server` serves the UI, the REST API and the console plugin; `airflow scheduler`
  (LocalExecutor) runs the DAG runs the console triggers; only `crm_record_sync` is unpaused.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from crm_sync.migrations import migrate
from devstack.postgres import find_free_port
from tests.fixtures.airflow_services import AirflowServices, service_env

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
RUN_TIMEOUT_SECONDS = 150


def _postgres_conn(dsn: str) -> str:
    from urllib.parse import urlparse

    url = urlparse(dsn)
    return json.dumps({"conn_type": "postgres", "host": url.hostname, "port": url.port,
                       "login": url.username or "postgres", "schema": url.path.lstrip("/")})


@dataclass
class ConsoleStack:
    """What the browser tests drive and check."""

    base_url: str
    passwords: dict[str, str] = field(repr=False)
    warehouse_dsn: str = ""
    marketing_dsn: str = ""
    emulator: Any = None
    services: AirflowServices | None = field(default=None, repr=False)

    def console(self, path: str = "/") -> str:
        """The console's URL for a path (outside Airflow's frame)."""
        return f"{self.base_url}/crm-sync{path}"

    def token(self, user: str) -> str:
        """A REST API token of one of the test users."""
        response = requests.post(f"{self.base_url}/auth/token", timeout=30,
                                 json={"username": user, "password": self.passwords[user]})
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a URL of the API server as a user (bearer token)."""
        return requests.request(method, f"{self.base_url}{path}", timeout=60,
                                headers={"Authorization": f"Bearer {self.token(user)}"}, **kwargs)

    def warehouse(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a warehouse query."""
        with psycopg.connect(self.warehouse_dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def marketing(self, query: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a marketing query."""
        with psycopg.connect(self.marketing_dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def wait_for_dag_run(self, dag_id: str, dag_run_id: str, timeout: float = RUN_TIMEOUT_SECONDS) -> dict[str, Any]:
        """Wait (bounded) until the scheduler finished a DAG run; returns Airflow's record of it."""
        deadline = time.monotonic() + timeout
        token = self.token("admin")
        while time.monotonic() < deadline:
            for process in self.services.processes:
                process.check_alive()
            run = requests.get(f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}", timeout=30,
                               headers={"Authorization": f"Bearer {token}"}).json()
            if run.get("state") in ("success", "failed"):
                return run
            time.sleep(1)
        scheduler = next(p for p in self.services.processes if p.name == "scheduler")
        raise AssertionError(f"{dag_id} run {dag_run_id} did not finish in {timeout:.0f} s:\n{scheduler.tail()}")


def _fresh_database(pg_server, name: str, kind: str) -> str:
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    pg_server.ensure_database(name)
    dsn = pg_server.dsn(name)
    with psycopg.connect(dsn) as conn:
        migrate(conn, kind)
    return dsn


def _seed_with_real_runs(stack_dsns: tuple[str, str], emulator: Any) -> None:
    """A differential import of Contacts, a write-back with one record Salesforce rejects, a Lead
    differential stopped because the org's daily API budget is used up, and one that fails
    because Salesforce refuses the connection's password."""
    import crm_differential
    import crm_writeback
    from airflow.utils.state import DagRunState

    run = importlib.reload(crm_differential).crm_differential_contact.test()
    assert run.state == DagRunState.SUCCESS
    with psycopg.connect(stack_dsns[1]) as mk:
        people = mk.execute("SELECT id FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL"
                            " ORDER BY email LIMIT 2").fetchall()
        mk.execute("UPDATE people SET lead_score = 11 WHERE id = %s", people[0])
        mk.execute("UPDATE people SET lead_score = 1e20 WHERE id = %s", people[1])  # out of Salesforce's range
    run = importlib.reload(crm_writeback).crm_writeback.test()
    assert run.state == DagRunState.SUCCESS
    admin = emulator.admin()
    usage = admin.stats()["api_usage"]
    admin.set_api_usage(used=usage["max"])
    try:
        run = crm_differential.crm_differential_lead.test()
    finally:
        admin.set_api_usage(used=usage["used"])
    assert run.state == DagRunState.SUCCESS  # stopped cleanly: its tasks are skipped
    good = os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"]
    os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"] = json.dumps(json.loads(good) | {"password": "wrong"})
    try:
        run = crm_differential.crm_differential_lead.test()
    finally:
        os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"] = good
    assert run.state == DagRunState.FAILED


@pytest.fixture(scope="module")
def console_stack(stack_env, emulator, pg_server, test_stack) -> Iterator[ConsoleStack]:
    """Seeded databases, Airflow's API server (with the console) and scheduler, test users."""
    ARTIFACTS.mkdir(exist_ok=True)
    warehouse_dsn = _fresh_database(pg_server, "console_wh", "warehouse")
    marketing_dsn = _fresh_database(pg_server, "console_mk", "marketing")
    passwords = {"admin": secrets.token_urlsafe(16), "viewer": secrets.token_urlsafe(16)}
    passwords_file = test_stack.base_dir / "console_passwords.json"
    passwords_file.write_text(json.dumps(passwords))
    port = find_free_port()
    base_url = f"http://127.0.0.1:{port}"
    overrides = {
        "AIRFLOW_CONN_CRM_WAREHOUSE": _postgres_conn(warehouse_dsn),
        "AIRFLOW_CONN_MARKETING_DB": _postgres_conn(marketing_dsn),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "CRM_SYNC_SAFETY_LAG_SECONDS": "0",
        "CRM_SYNC_TASK_RETRIES": "0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in overrides.items():
            patch.setenv(name, value)
        services = AirflowServices(base_url, service_env(stack_env, **overrides), test_stack.base_dir)
        api_server = services.start("api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1")
        try:
            _seed_with_real_runs((warehouse_dsn, marketing_dsn), emulator)
            services.wait_healthy(api_server)
            stack = ConsoleStack(base_url, passwords, warehouse_dsn, marketing_dsn, emulator, services)
            for dag in stack.api("admin", "GET", "/api/v2/dags", params={"tags": "crm_sync"}).json()["dags"]:
                paused = dag["dag_id"] != "crm_record_sync"
                assert stack.api("admin", "PATCH", f"/api/v2/dags/{dag['dag_id']}",
                                 json={"is_paused": paused}).status_code == 200
            services.start("scheduler")
            yield stack
        finally:
            services.stop()


@pytest.fixture(scope="module")
def browser(console_stack) -> Iterator[Any]:
    """Chromium from the system, driven by Playwright (never downloads a browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser, stack: ConsoleStack, user: str, *, color_scheme: str = "light") -> Any:
    """A new browser page signed in to Airflow as `user` through its login form."""
    context = browser.new_context(viewport={"width": 1440, "height": 960}, color_scheme=color_scheme)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{stack.base_url}/auth/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", stack.passwords[user])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
