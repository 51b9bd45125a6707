"""Airflow scaled out on Celery, natively: the topology of ``docker-compose.yaml`` without Docker.

``CeleryStack`` runs the same Airflow components as the compose file's services, as local
processes on top of a stack environment (see :mod:`devstack.environment`):

=================  ==========================================  ===========================
component          command                                     compose service
=================  ==========================================  ===========================
``api-server``     ``airflow api-server``                      ``airflow-apiserver``
``scheduler``      ``airflow scheduler``                       ``airflow-scheduler``
``dag-processor``  ``airflow dag-processor``                   ``airflow-dag-processor``
``triggerer``      ``airflow triggerer``                       ``airflow-triggerer``
``worker-N``       ``airflow celery worker --celery-hostname``  ``airflow-worker`` (scaled)
=================  ==========================================  ===========================

The broker is Redis (Debian's ``redis-server``), started on a free loopback port with
persistence off; Celery's results go to the Airflow metadata database, as in the compose
file. ``docs/decisions.md`` says why Redis and not Celery's SQLAlchemy transport.

Each worker gets a distinct Celery node name and a distinct Airflow hostname (the
``hostname`` recorded on the task instances it runs), so which worker ran what can be read
from the REST API. The JWT secret that the API server signs task tokens with is generated
once per state directory and kept in a file readable by its owner only; it is never printed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.postgres import find_free_port, port_accepts_connections

if TYPE_CHECKING:
    from devstack.services import DevStack

#: The Airflow components besides the workers, in start order.
SERVER_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The Airflow sub-command a Celery worker runs.
WORKER_SUBCOMMAND = ("celery", "worker")
#: Environment variable holding a worker's name; read by :func:`worker_hostname`.
WORKER_NAME_VARIABLE = "CRM_CELERY_WORKER_NAME"
#: Health components reported by ``/api/v2/monitor/health`` that must be healthy.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")

Reporter = Callable[[str], None]


class CeleryStackError(RuntimeError):
    """A component of the Celery topology failed to start or stopped unexpectedly."""


def worker_hostname() -> str:
    """Airflow ``[core] hostname_callable`` of the native workers: the worker's own name.

    Two workers on one machine would otherwise both record the machine's FQDN on the task
    instances they run.
    """
    import socket

    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


def airflow_subcommands(workers: int = 1) -> list[tuple[str, ...]]:
    """The ``airflow`` sub-commands the topology runs (one entry per process)."""
    return [tuple(component.split()) for component in SERVER_COMPONENTS] + [WORKER_SUBCOMMAND] * workers


def celery_result_backend(sql_alchemy_conn: str) -> str:
    """Celery's result backend URL on Airflow's metadata database (``db+postgresql://...``)."""
    scheme, _, rest = sql_alchemy_conn.partition("://")
    if not scheme.startswith("postgresql"):
        raise CeleryStackError(f"the metadata database must be PostgreSQL, not {scheme}")
    return f"db+postgresql://{rest}"


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int


@dataclass
class CeleryStack:
    """Airflow's components on Celery with a local Redis broker.

    Args:
        base_env: The stack environment (``AIRFLOW_HOME``, metadata database, connections).
        state_dir: Where Redis, the logs and the JWT secret file live.
        root: The project root (working directory of the components).
        api_port: The API server's port on 127.0.0.1 (0: a free one).
        worker_concurrency: Task slots per worker (8: the ``salesforce_api`` pool's size).
        api_workers: The API server's worker processes.
        scheduled: ``False`` turns the schedules off (``[scheduler] use_job_schedule``):
            only triggered runs run, as the scale-out test needs.
        python: The interpreter that runs ``-m airflow``.
        redis_server: The ``redis-server`` executable.
    """

    base_env: Mapping[str, str] = field(repr=False)  # holds connections: never in a repr
    state_dir: Path
    root: Path
    api_port: int = 0
    worker_concurrency: int = 8
    api_workers: int = 1
    scheduled: bool = True
    python: str = sys.executable
    redis_server: str = "redis-server"
    redis_port: int = 0
    processes: dict[str, _Process] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).absolute()
        self.api_port = self.api_port or find_free_port()

    # -- configuration ---------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def _jwt_secret(self) -> str:
        path = self.state_dir / "jwt_secret"
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def env(self) -> dict[str, str]:
        """The environment of every component: the stack's plus the Celery topology's."""
        if not self.redis_port:
            raise CeleryStackError("start Redis first (CeleryStack.start_redis)")
        base = dict(self.base_env)
        return {
            **base,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": celery_result_backend(
                base["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            ),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": str(self.api_workers),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret(),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.scheduled),
            # All components share one machine's CPUs: a task start may wait on the API
            # server longer than the 5 s default before its retry.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            # Each process serving logs needs a port of its own on a shared machine.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(find_free_port()),
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, component: str, worker_name: str | None = None) -> list[str]:
        """The command line of one component (``worker_name`` for a worker)."""
        if worker_name is None:
            return [self.python, "-m", "airflow", *component.split()]
        return [
            self.python, "-m", "airflow", *WORKER_SUBCOMMAND,
            "--celery-hostname", f"{worker_name}@%h",
            "--concurrency", str(self.worker_concurrency),
        ]  # fmt: skip

    # -- processes -------------------------------------------------------------------------

    def start_redis(self, timeout: float = 30) -> int:
        """Start ``redis-server`` on a free loopback port (no persistence); return the port."""
        executable = shutil.which(self.redis_server)
        if executable is None:
            raise CeleryStackError(
                f"{self.redis_server} is not installed (Debian/Ubuntu: apt-get install redis-server)"
            )
        self.redis_port = find_free_port()
        redis_dir = self.state_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        command = [
            executable, "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(redis_dir), "--daemonize", "no",
        ]  # fmt: skip
        self._spawn("redis", command, dict(os.environ))
        deadline = time.monotonic() + timeout
        while not port_accepts_connections(self.redis_port):
            self._check_alive("redis")
            if time.monotonic() > deadline:
                raise CeleryStackError(f"Redis did not listen in {timeout:.0f}s:\n{self.tail('redis')}")
            time.sleep(0.1)
        return self.redis_port

    def start_servers(self) -> None:
        """Start the API server, scheduler, DAG processor and triggerer."""
        env = self.env()
        for component in SERVER_COMPONENTS:
            self._spawn(component, self.command(component), env)

    def start_worker(self, name: str) -> None:
        """Start one Celery worker; ``name`` is its Celery node name and Airflow hostname."""
        env = {
            **self.env(),
            WORKER_NAME_VARIABLE: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(find_free_port()),
        }
        self._spawn(name, self.command("worker", worker_name=name), env)

    def start(self, workers: int = 2, timeout: float = 300, say: Reporter | None = None) -> None:
        """Start Redis, the servers and ``workers`` workers, and wait until all are ready."""
        say = say or (lambda message: None)
        self.start_redis()
        say(f"Redis broker on 127.0.0.1:{self.redis_port}")
        self.start_servers()
        names = [f"worker-{n}" for n in range(1, workers + 1)]
        for name in names:
            self.start_worker(name)
        self.wait_until_healthy(timeout)
        for name in names:
            self.wait_for_worker(name, timeout)
        say(f"API server, scheduler, DAG processor, triggerer and {workers} Celery workers ready")

    def _spawn(self, name: str, command: list[str], env: Mapping[str, str]) -> None:
        if name in self.processes and self.processes[name].popen.poll() is None:
            raise CeleryStackError(f"{name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log_file:
            popen = subprocess.Popen(
                command,
                cwd=self.root,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped as one group: the component and its children
            )
        self.processes[name] = _Process(name, popen, log_path, offset)

    def tail(self, name: str, lines: int = 40) -> str:
        """The end of a component's log (since it last started)."""
        process = self.processes.get(name)
        if process is None:
            return ""
        with open(process.log_path, "rb") as log_file:
            log_file.seek(process.log_offset)
            text = log_file.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        code = process.popen.poll()
        if code is not None:
            raise CeleryStackError(f"{name} exited with code {code}; end of its log:\n{self.tail(name)}")

    def check_running(self) -> None:
        """Raise :class:`CeleryStackError` if any component has exited."""
        for name in self.processes:
            self._check_alive(name)

    # -- readiness -------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Component → status from the API server's public health endpoint ({} if unreachable)."""
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return {}
        return {name: str((body.get(name) or {}).get("status")) for name in HEALTH_COMPONENTS}

    def wait_until_healthy(self, timeout: float = 300) -> None:
        """Wait until the API server reports the database, scheduler, triggerer and DAG processor healthy."""
        deadline = time.monotonic() + timeout
        status: dict[str, str] = {}
        while True:
            self.check_running()
            status = self.health()
            if status and all(value == "healthy" for value in status.values()):
                return
            if time.monotonic() > deadline:
                raise CeleryStackError(f"Airflow was not healthy in {timeout:.0f}s: {status or 'API unreachable'}")
            time.sleep(1)

    def wait_for_worker(self, name: str, timeout: float = 120) -> None:
        """Wait until the worker's Celery node has connected to the broker and is ready."""
        deadline = time.monotonic() + timeout
        while f"{name}@" not in self.tail(name, lines=400) or " ready." not in self.tail(name, lines=400):
            self._check_alive(name)
            if time.monotonic() > deadline:
                raise CeleryStackError(f"{name} was not ready in {timeout:.0f}s:\n{self.tail(name)}")
            time.sleep(0.5)

    # -- stopping --------------------------------------------------------------------------

    def stop_component(self, name: str, timeout: float = 30) -> None:
        """Stop one component and its children (SIGTERM, then SIGKILL)."""
        process = self.processes.pop(name, None)
        if process is not None:
            _stop_groups([process.popen], timeout)

    def stop(self, timeout: float = 30) -> None:
        """Stop the workers (warm: running tasks may finish), then the servers and Redis."""
        workers = [name for name in self.processes if name.startswith("worker-")]
        for group in (workers, list(self.processes)):
            _stop_groups([self.processes.pop(name).popen for name in group if name in self.processes], timeout)


def _stop_groups(popens: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM the process groups ``popens`` lead, wait up to ``timeout``, SIGKILL what is left."""

    def signal_all(sig: int) -> None:
        for popen in popens:
            try:
                os.killpg(popen.pid, sig)
            except ProcessLookupError:
                continue

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for popen in popens:
        try:
            popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            continue
    # Leaders that are gone may leave children (task processes, Celery's pool): the group goes.
    signal_all(signal.SIGKILL)
    for popen in popens:
        popen.wait(timeout=10)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_foreground(stack: CeleryStack, workers: int, say: Reporter) -> int:
    """Start the topology and keep it running until Ctrl-C / SIGTERM or a component exits."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        stack.start(workers=workers, say=say)
        say(f"logs: {stack.log_dir}")
        while True:
            stack.check_running()
            time.sleep(2)
    except KeyboardInterrupt:
        say("stopping the Celery topology")
        return 0
    except CeleryStackError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        # A second Ctrl-C or `make stop`'s escalation must not cut the stopping short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


def run_on_dev_stack(dev: DevStack, workers: int = 2, say: Reporter = print) -> int:
    """``make airflow-celery``: the dev stack (``up``), then the Celery topology in the foreground.

    The API server listens where ``make airflow`` would (``CRM_AIRFLOW_PORT``, 127.0.0.1);
    ``make stop`` stops it like ``make airflow``.
    """
    from devstack.airflow_setup import ensure_ui_login
    from devstack.environment import AIRFLOW_UI_USER
    from devstack.services import StackError, _read_pid_file, _write_pid_file

    env = dev.up(say)
    running = _read_pid_file(dev.airflow_pid_file)
    if running:
        raise StackError(f"Airflow is already running (pid {running['pid']}); `make stop` stops it")
    if port_accepts_connections(dev.airflow_port):
        raise StackError(f"port {dev.airflow_port} is in use; set CRM_AIRFLOW_PORT to a free port")
    password_file = ensure_ui_login(dev.airflow_home, AIRFLOW_UI_USER)
    stack = CeleryStack(
        base_env={**os.environ, **env},
        state_dir=dev.base_dir / "celery",
        root=dev.root,
        api_port=dev.airflow_port,
        python=dev.python,
    )
    _write_pid_file(dev.airflow_pid_file, {"pid": os.getpid(), "url": stack.api_url})
    say(f"Airflow UI: {stack.api_url}  (log in as '{AIRFLOW_UI_USER}'; password in {password_file})")
    say("Stop with Ctrl-C or `make stop`.")
    try:
        return run_foreground(stack, workers, say)
    finally:
        dev.airflow_pid_file.unlink(missing_ok=True)
