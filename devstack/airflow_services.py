"""Real Airflow services (API server, scheduler, dag-processor, triggerer) as child processes.

The tests that need a running Airflow and the benchmark's Airflow scenarios start them with
a stack's environment, against its metadata database; their output goes to log files in a
directory of the caller's choice. ``local_executor_overrides`` is the configuration that
binds them to one API server on a free port, as ``make airflow`` runs them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

STARTUP_SECONDS = 120


class ServiceError(RuntimeError):
    """An Airflow service did not start or died."""


@dataclass
class AirflowProcess:
    """One `airflow <command>` child process and its log."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        """The end of the process's log (for failure messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise if the process has exited."""
        if self.process.poll() is not None:
            raise ServiceError(f"airflow {self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def stop(self, timeout: float = 20) -> None:
        """Terminate the process group (the command's own children too), then kill if needed."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=timeout)


@dataclass
class AirflowServices:
    """The Airflow services a test started (API server first; then scheduler, dag-processor, ...)."""

    base_url: str
    env: dict[str, str] = field(repr=False)
    log_dir: Path = Path()
    processes: list[AirflowProcess] = field(default_factory=list)

    def start(self, name: str, *args: str) -> AirflowProcess:
        """Start `airflow <name> <args>` in its own process group."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "airflow", name, *args], env=self.env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        started = AirflowProcess(name, process, log_path)
        self.processes.append(started)
        return started

    def wait_healthy(self, api_server: AirflowProcess, timeout: float = STARTUP_SECONDS) -> None:
        """Wait (bounded) until the API server answers its health check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            api_server.check_alive()
            try:
                status = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code
            except requests.ConnectionError:
                status = None  # not listening yet: try again until the deadline
            if status == 200:
                return
            time.sleep(0.5)
        raise ServiceError(f"the API server did not answer within {timeout:.0f} s:\n{api_server.tail()}")

    def stop(self) -> None:
        """Stop every started process, newest first."""
        for process in reversed(self.processes):
            process.stop()


def service_env(base_env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """The child processes' environment: the stack's, plus the overrides."""
    return {**os.environ, **base_env, **overrides}


def local_executor_overrides(port: int) -> dict[str, str]:
    """The settings that make an API server on ``port`` serve the other services' tasks.

    Fresh secrets for the API's tokens, and the execution API on the same server.
    """
    base_url = f"http://127.0.0.1:{port}"
    return {
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }
