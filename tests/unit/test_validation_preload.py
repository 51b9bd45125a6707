"""Great Expectations is imported once in the Airflow processes that fork task processes, and
in no other Airflow process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crm_sync.validation.preload import forks_task_processes, preload_for_task_processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("argv", "executor", "forks"), [
    (["airflow", "scheduler"], "LocalExecutor", True),
    (["/venv/lib/airflow/__main__.py", "scheduler", "--num-runs", "1"], "LocalExecutor", True),
    (["airflow", "scheduler"], "CeleryExecutor", False),
    (["airflow", "celery", "worker", "--concurrency", "2"], "CeleryExecutor", True),
    (["airflow", "celery", "flower"], "CeleryExecutor", False),
    (["airflow", "dag-processor"], "LocalExecutor", False),
    (["airflow", "api-server"], "LocalExecutor", False),
    (["airflow", "dags", "unpause", "crm_writeback"], "LocalExecutor", False),
    (["pytest"], "LocalExecutor", False),
])
def test_which_airflow_commands_fork_task_processes(argv: list[str], executor: str, forks: bool) -> None:
    assert forks_task_processes(argv, executor) is forks


def test_the_preload_can_be_turned_off() -> None:
    environ = {"CRM_SYNC_PRELOAD_GX": "false", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    assert preload_for_task_processes(["airflow", "scheduler"], environ) is False


def _imports_gx_on_airflow_start(command: str) -> bool:
    """Start Python as `airflow <command>` would (argv), import Airflow, report whether GX got imported."""
    env = {**os.environ, "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    env.pop("CRM_SYNC_PRELOAD_GX", None)
    code = (f"import sys; sys.argv = ['airflow', {command!r}]; import airflow; "
            "print('great_expectations' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1] == "True"


def test_airflow_local_settings_preload_in_the_scheduler_only() -> None:
    assert _imports_gx_on_airflow_start("scheduler")
    assert not _imports_gx_on_airflow_start("dag-processor")
