"""Shared pytest fixtures: embedded PostgreSQL, the Salesforce emulator, Airflow's environment.

Session-scoped and lazy: a test pays only for the services it asks for.

- ``pg_server``: a started :class:`~devstack.postgres.EmbeddedPostgres` (fsync off)
  with the databases ``crm_warehouse``, ``marketing`` and ``airflow``; ``pg_server.dsn(db)``
  gives a libpq URI.
- ``emulator``: the Salesforce emulator's ``EmulatorHandle`` (``url``, ``port``,
  ``cert_path``, ``login_domain``, ``admin()``), seeded with ``$CRM_TEST_RECORDS`` Contacts
  (default 2000), seed 7, on a free port; from then on ``REQUESTS_CA_BUNDLE`` and
  ``AIRFLOW_CONN_SALESFORCE_DEFAULT`` point at it.
- ``stack_env``: PostgreSQL started, Airflow's metadata database migrated, the
  ``salesforce_api`` pool created; yields the stack environment (a dict, also applied to
  ``os.environ``). Ask for it in any test that runs ``dag.test()`` or touches Airflow's
  database.
- ``test_stack``: the session's :class:`~tests.fixtures.stack.TestStack` (paths, ports).

The environment itself (``AIRFLOW_HOME``, the metadata DB URL, ``AIRFLOW_CONN_*``) is
applied in ``pytest_configure``, before test modules are imported, because Airflow reads
its configuration when it is first imported; it is restored when the session ends.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.airflow_setup import (
    SALESFORCE_POOL,
    SALESFORCE_POOL_DESCRIPTION,
    SALESFORCE_POOL_SLOTS,
)
from devstack.environment import STACK_DATABASES
from devstack.postgres import EmbeddedPostgres, PostgresError, find_free_port
from tests.fixtures.stack import TestStack, reap_abandoned_sessions

log = logging.getLogger(__name__)

_STACK_KEY = pytest.StashKey[TestStack]()
_SIGTERM_KEY = pytest.StashKey[Any]()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    reap_abandoned_sessions()
    stack = TestStack.create()
    stack.apply()
    config.stash[_STACK_KEY] = stack
    # On SIGTERM (CI cancelling a job, `timeout`) stop like on ^C: pytest then still tears
    # the session fixtures down, so PostgreSQL and the emulator do not outlive the run.
    config.stash[_SIGTERM_KEY] = signal.signal(signal.SIGTERM, _interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_SIGTERM_KEY, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    stack = config.stash.get(_STACK_KEY, None)
    if stack is not None:
        stack.restore()
        stack.remove()


@pytest.fixture(scope="session")
def test_stack(pytestconfig: pytest.Config) -> TestStack:
    """The session's stack: ``base_dir``, ``pg_port``, ``emulator_url``, ``env``."""
    return pytestconfig.stash[_STACK_KEY]


def _reconfigure_airflow_orm() -> None:
    """Point an already imported Airflow at the (changed) metadata database URL."""
    settings = sys.modules.get("airflow.settings")
    if settings is not None:
        settings.dispose_orm()
        settings.configure_vars()
        settings.configure_orm()


@pytest.fixture(scope="session")
def pg_server(test_stack: TestStack) -> Iterator[EmbeddedPostgres]:
    """A running embedded PostgreSQL with the stack's databases, stopped at session end."""
    server = EmbeddedPostgres(test_stack.postgres_dir, test_stack.pg_port, fsync=False)
    try:
        server.start()
    except PostgresError as exc:
        if "already in use" not in str(exc):
            raise
        # Another program took the port picked at configure time: move to a free one.
        test_stack.pg_port = find_free_port()
        test_stack.rebuild_env()
        test_stack.apply()
        _reconfigure_airflow_orm()
        server = EmbeddedPostgres(test_stack.postgres_dir, test_stack.pg_port, fsync=False)
        server.start()
    for database in STACK_DATABASES:
        server.ensure_database(database)
    yield server
    if "airflow.settings" in sys.modules:
        # Close Airflow's pooled connections first, or its exit hook trips on a dead server.
        sys.modules["airflow.settings"].dispose_orm()
    server.stop()


@pytest.fixture(scope="session")
def emulator(test_stack: TestStack) -> Iterator[Any]:
    """The Salesforce emulator (``emulator.launcher.EmulatorHandle``), stopped at session end.

    Starting it also sets ``AIRFLOW_CONN_SALESFORCE_DEFAULT``, ``CRM_EMULATOR_URL`` and
    ``REQUESTS_CA_BUNDLE`` (in ``os.environ`` and the ``stack_env`` dict).
    """
    from emulator.launcher import start_emulator

    handle = start_emulator(
        test_stack.base_dir / "emulator",
        records=int(os.environ.get("CRM_TEST_RECORDS", "2000")),
        seed=7,
        log_path=test_stack.base_dir / "emulator.log",
    )
    test_stack.emulator_url = handle.url
    test_stack.emulator_cert = handle.cert_path
    test_stack.rebuild_env()
    test_stack.apply()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def stack_env(test_stack: TestStack, pg_server: EmbeddedPostgres) -> dict[str, str]:
    """Airflow ready to run ``dag.test()``: metadata DB migrated, ``salesforce_api`` pool made.

    Returns the stack environment (already in ``os.environ``; updated in place when the
    ``emulator`` fixture starts).
    """
    # What `airflow db migrate` does, in this process: Airflow is imported here anyway, and
    # this saves the CLI's start-up (~4 s). Every session's database is new.
    from airflow.models.pool import Pool
    from airflow.utils.db import upgradedb

    upgradedb()

    Pool.create_or_update_pool(
        name=SALESFORCE_POOL,
        slots=SALESFORCE_POOL_SLOTS,
        description=SALESFORCE_POOL_DESCRIPTION,
        include_deferred=False,
    )
    return test_stack.env
