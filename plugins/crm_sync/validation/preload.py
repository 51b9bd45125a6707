"""Import Great Expectations once per Airflow worker, before it forks its task processes.

Importing Great Expectations costs seconds of CPU, and the modules the DAG files import
(``DAG_MODULES``: the sync's steps, the Salesforce client, psycopg) about a second more in
every task process, which parses its DAG file before it runs. Airflow's LocalExecutor forks its worker
processes from the scheduler, and every worker (LocalExecutor's, or a Celery worker's pool)
forks one process per task (the task supervisor uses a bare ``os.fork`` on Linux). A module
the worker's parent imported is already in every task process, so importing them there once
spares every task those imports (and every ``validate`` task Great Expectations').

``airflow_local_settings`` (in the plugins folder, which Airflow puts on ``sys.path`` in each
of its processes) calls :func:`preload_for_task_processes` when an Airflow process starts;
it imports only in the processes that fork task processes: the scheduler with a
LocalExecutor, and ``airflow celery worker``. ``CRM_SYNC_PRELOAD_GX=false`` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

_OFF = {"0", "false", "no", "off"}
#: What the DAG files import at parse time (dags/*.py), imported with Great Expectations.
DAG_MODULES = ("airflow.sdk", "crm_sync.dag_support", "crm_sync.extract", "crm_sync.publish",
               "crm_sync.reference_data", "crm_sync.locks", "crm_sync.reconcile", "crm_sync.outbox_trigger",
               "crm_sync.writeback.steps")


def forks_task_processes(argv: Sequence[str], executor: str) -> bool:
    """Whether the Airflow command in ``argv`` forks task processes with ``executor``.

    Args:
        argv: The process's arguments (``sys.argv``: the program, then the command).
        executor: Airflow's ``[core] executor`` setting.
    """
    command = [arg for arg in argv[1:] if not arg.startswith("-")][:2]
    if command[:1] == ["scheduler"]:
        return "LocalExecutor" in executor
    return command == ["celery", "worker"]


def preload_for_task_processes(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Import Great Expectations and ``DAG_MODULES`` now if this Airflow process forks task processes.

    Returns:
        Whether they were imported.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if environ.get("CRM_SYNC_PRELOAD_GX", "true").strip().lower() in _OFF:
        return False
    executor = environ.get("AIRFLOW__CORE__EXECUTOR") or _configured_executor()
    if not forks_task_processes(argv, executor):
        return False
    import importlib

    from crm_sync.validation.suite import import_gx

    started = time.monotonic()
    import_gx()
    for module in DAG_MODULES:
        importlib.import_module(module)
    log.info("Great Expectations and the DAG files' modules imported in %.1fs for the task processes"
             " this process forks", time.monotonic() - started)
    return True


def _configured_executor() -> str:
    """Airflow's ``[core] executor`` from its configuration (set in a file, not the environment)."""
    from airflow.configuration import conf

    return str(conf.get("core", "executor", fallback="LocalExecutor"))
