"""The local development stack: embedded PostgreSQL, the Salesforce emulator, Airflow.

``DevStack`` knows where each service keeps its state (under ``.local/`` by default) and
starts, inspects and stops them. Background services are detached (own session, output to a
log file, pid file under ``.local/``) so they outlive the ``make`` process that started them,
and every operation is idempotent: ``up`` on a running stack only checks it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack.airflow_setup import (
    CREATED,
    KEPT_EDITED,
    KEPT_FOREIGN,
    TASK_START_SETTINGS,
    UPDATED,
    ensure_connections,
    ensure_salesforce_pool,
    ensure_ui_login,
    migrate_metadata_db,
    ui_password_file,
)
from devstack.environment import (
    AIRFLOW_UI_USER,
    STACK_DATABASES,
    build_stack_env,
    connection_env_var,
    stack_connections,
    write_env_file,
)
from devstack.postgres import EmbeddedPostgres, port_accepts_connections

DEFAULT_PG_PORT = 54329
DEFAULT_EMULATOR_PORT = 8443
DEFAULT_AIRFLOW_PORT = 8080
DEFAULT_DEMO_RECORDS = 5000
DEMO_SEED = 42
READY_PREFIX = "READY "
#: Where the CRM sync console (the sync's Airflow UI plugin) is served, under the Airflow UI.
CRM_CONSOLE_PATH = "/plugin/crm-sync"

Reporter = Callable[[str], None]


class StackError(RuntimeError):
    """A service of the development stack could not be started or stopped."""


def project_root() -> Path:
    """Return the repository root (this file is ``devstack/services.py``)."""
    return Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


@dataclass(frozen=True)
class DevStack:
    """Where the local stack lives and on which ports it listens."""

    root: Path
    base_dir: Path
    pg_port: int = DEFAULT_PG_PORT
    emulator_port: int = DEFAULT_EMULATOR_PORT
    airflow_port: int = DEFAULT_AIRFLOW_PORT
    demo_records: int = DEFAULT_DEMO_RECORDS
    python: str = sys.executable

    @classmethod
    def from_environ(cls, root: Path | None = None) -> DevStack:
        """Build the stack from ``CRM_*`` environment overrides (ports, record count)."""
        root = root or project_root()
        base_dir = Path(os.environ.get("CRM_STACK_DIR") or root / ".local")
        return cls(
            root=root,
            base_dir=base_dir if base_dir.is_absolute() else root / base_dir,
            pg_port=_int_setting("CRM_PG_PORT", DEFAULT_PG_PORT, 1024, 65535),
            emulator_port=_int_setting("CRM_EMULATOR_PORT", DEFAULT_EMULATOR_PORT, 1024, 65535),
            airflow_port=_int_setting("CRM_AIRFLOW_PORT", DEFAULT_AIRFLOW_PORT, 1024, 65535),
            demo_records=_int_setting("CRM_DEMO_RECORDS", DEFAULT_DEMO_RECORDS, 1, 10_000_000),
        )

    # -- layout ---------------------------------------------------------------------------

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.base_dir / "postgres", self.pg_port, fsync=True)

    @property
    def emulator_dir(self) -> Path:
        return self.base_dir / "emulator"

    @property
    def emulator_url(self) -> str:
        return f"https://127.0.0.1:{self.emulator_port}"

    @property
    def emulator_pid_file(self) -> Path:
        return self.base_dir / "emulator.pid"

    @property
    def emulator_log(self) -> Path:
        return self.base_dir / "emulator.log"

    @property
    def airflow_home(self) -> Path:
        return self.base_dir / "airflow"

    @property
    def airflow_pid_file(self) -> Path:
        return self.base_dir / "airflow.pid"

    @property
    def env_file(self) -> Path:
        return self.base_dir / "env.sh"

    @property
    def airflow_url(self) -> str:
        return f"http://localhost:{self.airflow_port}"

    @property
    def console_url(self) -> str:
        """The CRM sync console's address (:data:`CRM_CONSOLE_PATH` under the Airflow UI)."""
        return self.airflow_url + CRM_CONSOLE_PATH

    def connections(self) -> dict[str, dict[str, object]]:
        """The stack's Airflow connections (kept in the metadata database)."""
        return stack_connections(self.pg_port, self.emulator_url)

    def env(self, *, base_env: dict[str, str] | None = None) -> dict[str, str]:
        """The stack's environment (see :func:`~devstack.environment.build_stack_env`)."""
        env = build_stack_env(
            self.root,
            self.base_dir,
            self.pg_port,
            self.emulator_url,
            self.emulator_dir / "cert.pem",
            base_env=base_env,
            bin_dir=Path(self.python).parent,
            connections_in_env=False,  # in the metadata database (see up()): UI edits take effect
        )
        env.update(TASK_START_SETTINGS)
        # The UI has a well-known password: serve it on this machine only.
        env["AIRFLOW__API__HOST"] = os.environ.get("CRM_AIRFLOW_HOST", "127.0.0.1")
        if self.airflow_port != DEFAULT_AIRFLOW_PORT:
            env["AIRFLOW__API__PORT"] = str(self.airflow_port)
            env["AIRFLOW__API__BASE_URL"] = self.airflow_url
        return env

    # -- whole stack ----------------------------------------------------------------------

    def up(self, say: Reporter = _say) -> dict[str, str]:
        """Start PostgreSQL and the emulator, prepare Airflow, write ``env.sh``; idempotent."""
        began = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.start_postgres(say)
        self.start_emulator(say)
        env = self.env()
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        if migrate_metadata_db(env):
            say("Airflow metadata database migrated")
        else:
            say("Airflow metadata database is up to date")
        if ensure_salesforce_pool(env):
            say("Airflow pool salesforce_api created")
        self._report_connections(ensure_connections(env, self.connections()), say)
        write_env_file(self.env(base_env={}), self.env_file)
        say(f"stack ready in {time.monotonic() - began:.1f}s; environment: source {self._rel(self.env_file)}")
        return env

    @staticmethod
    def _report_connections(outcome: dict[str, str], say: Reporter) -> None:
        for action in (CREATED, UPDATED):
            done = [conn_id for conn_id, result in outcome.items() if result == action]
            if done:
                say(f"Airflow connections {action} in the metadata database: {', '.join(done)}")
        for conn_id, result in outcome.items():
            if result in (KEPT_EDITED, KEPT_FOREIGN):
                reason = "changed in Airflow since the stack wrote it" if result == KEPT_EDITED else (
                    "not written by the stack")
                say(f"Airflow connection {conn_id} kept as it is ({reason}); "
                    f"delete it (`airflow connections delete {conn_id}`) to get the stack's back")

    def down(self, say: Reporter = _say) -> None:
        """Stop Airflow (if ``make airflow`` started it), the emulator and PostgreSQL."""
        self.stop_airflow(say)
        self.stop_emulator(say)
        server = self.postgres
        if server.is_running():
            server.stop()
            say("PostgreSQL stopped")
        else:
            say("PostgreSQL is not running")

    def status(self) -> dict[str, str]:
        """Return one line of state per service."""
        server = self.postgres
        pg_port = server.running_port()
        emulator = _read_pid_file(self.emulator_pid_file)
        airflow = _read_pid_file(self.airflow_pid_file)
        return {
            "postgres": f"running on 127.0.0.1:{pg_port} (data {self._rel(server.data_dir)})"
            if pg_port
            else "stopped",
            "emulator": f"running at {emulator.get('url')} (pid {emulator['pid']}, log {self._rel(self.emulator_log)})"
            if emulator
            else "stopped",
            "airflow": f"running at {self.airflow_url} (pid {airflow['pid']})" if airflow else "stopped",
        }

    # -- PostgreSQL ----------------------------------------------------------------------

    def start_postgres(self, say: Reporter = _say) -> EmbeddedPostgres:
        server = self.postgres
        if server.is_running():
            say(f"PostgreSQL already running on 127.0.0.1:{server.running_port()}")
        else:
            began = time.monotonic()
            server.start()
            say(f"PostgreSQL started on 127.0.0.1:{self.pg_port} in {time.monotonic() - began:.1f}s")
        created = [name for name in STACK_DATABASES if server.ensure_database(name)]
        if created:
            say(f"created databases: {', '.join(created)}")
        return server

    # -- emulator -------------------------------------------------------------------------

    def start_emulator(self, say: Reporter = _say, timeout: float = 600) -> str:
        """Start the emulator detached, seeded with the demo org; return its URL."""
        running = _read_pid_file(self.emulator_pid_file)
        if running and port_accepts_connections(self.emulator_port):
            say(f"emulator already running at {running['url']}")
            return str(running["url"])
        if port_accepts_connections(self.emulator_port):
            raise StackError(
                f"port {self.emulator_port} is in use by another program; "
                "set CRM_EMULATOR_PORT to a free port"
            )
        self.emulator_dir.mkdir(parents=True, exist_ok=True)
        fresh = not any(self.emulator_dir.iterdir())
        command = [
            self.python, "-m", "emulator", "serve",
            "--port", str(self.emulator_port),
            "--state-dir", str(self.emulator_dir),
            "--records", str(self.demo_records),
            "--seed", str(DEMO_SEED),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        say(
            f"starting the Salesforce emulator on port {self.emulator_port}"
            + (f" (seeding {self.demo_records} contacts, seed {DEMO_SEED})" if fresh else "")
        )
        began = time.monotonic()
        offset = self.emulator_log.stat().st_size if self.emulator_log.exists() else 0
        with open(self.emulator_log, "ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `make`, and ^C in the terminal
            )
        url = self._wait_for_ready_line(process, offset, began + timeout)
        _write_pid_file(self.emulator_pid_file, {"pid": process.pid, "url": url, "port": self.emulator_port})
        say(
            f"emulator ready at {url} in {time.monotonic() - began:.1f}s (log {self._rel(self.emulator_log)})"
        )
        return url

    def _wait_for_ready_line(self, process: subprocess.Popen[bytes], offset: int, deadline: float) -> str:
        while True:
            with open(self.emulator_log, "rb") as log_file:
                log_file.seek(offset)
                for raw in log_file:
                    line = raw.decode("utf-8", "replace").strip()
                    if line.startswith(READY_PREFIX):
                        return line[len(READY_PREFIX) :].strip()
            if process.poll() is not None:
                raise StackError(
                    f"the emulator exited with code {process.returncode}; "
                    f"end of {self._rel(self.emulator_log)}:\n{_tail(self.emulator_log, offset)}"
                )
            if time.monotonic() > deadline:
                _stop_process(process.pid, process_group=True)
                raise StackError(
                    f"the emulator was not ready in time; end of {self._rel(self.emulator_log)}:\n"
                    f"{_tail(self.emulator_log, offset)}"
                )
            time.sleep(0.2)

    def stop_emulator(self, say: Reporter = _say) -> None:
        running = _read_pid_file(self.emulator_pid_file)
        if not running:
            say("emulator is not running")
            return
        _stop_process(int(running["pid"]), process_group=True)
        self.emulator_pid_file.unlink(missing_ok=True)
        say("emulator stopped")

    # -- Airflow standalone ---------------------------------------------------------------

    def run_airflow(self, say: Reporter = _say) -> int:
        """Run ``airflow standalone`` in the foreground on top of the stack; return its exit code."""
        env = self.up(say)
        running = _read_pid_file(self.airflow_pid_file)
        if running:
            say(
                f"Airflow is already running at {self.airflow_url} (pid {running['pid']}); `make stop` stops it"
            )
            return 0
        if port_accepts_connections(self.airflow_port, host="127.0.0.1"):
            raise StackError(
                f"port {self.airflow_port} is in use by another program; set CRM_AIRFLOW_PORT to a free port"
            )
        password_file = ensure_ui_login(self.airflow_home, AIRFLOW_UI_USER)
        child_env = {**os.environ, **env}
        for conn_id in self.connections():
            # A variable left in the shell (an old `source .local/env.sh`) would win over the UI.
            if child_env.pop(connection_env_var(conn_id), None) is not None:
                say(f"ignoring {connection_env_var(conn_id)} from your shell: the stack's Airflow reads "
                    f"{conn_id} from its metadata database, where the UI edits it")
        say("")
        say(f"Airflow UI:       {self.airflow_url}  (up once standalone prints that Airflow is ready)")
        say(f"CRM sync console: {self.console_url}  (or 'CRM sync' in the Airflow navigation)")
        say(f"Log in as '{AIRFLOW_UI_USER}'; the password is in {self._rel(password_file)}")
        say("(it is 'admin' unless you changed that file). Stop with Ctrl-C or `make stop`.")
        say("DAGs start paused: unpause one with its toggle in the UI (or `airflow dags unpause <dag_id>`).")
        say("Connections are in Airflow's metadata database: edit them under Admin > Connections.")
        say("")
        # standalone shuts its components down on SIGINT; a shell that started us in the
        # background may have set SIGINT to "ignore", which the child would inherit.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        process = subprocess.Popen(
            [self.python, "-m", "airflow", "standalone"],
            cwd=self.root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # `make stop` can stop it and its components as one group
        )
        _write_pid_file(self.airflow_pid_file, {"pid": process.pid, "url": self.airflow_url})
        try:
            return process.wait()
        except KeyboardInterrupt:
            say("stopping Airflow")
            _stop_process(process.pid, process_group=True, first_signal=signal.SIGINT)
            return 0  # a clean stop on request, not a failure
        finally:
            if process.poll() is not None:
                self.airflow_pid_file.unlink(missing_ok=True)

    def stop_airflow(self, say: Reporter = _say) -> None:
        running = _read_pid_file(self.airflow_pid_file)
        if not running:
            return
        # standalone shuts its components down on SIGINT; the group signal catches stragglers.
        _stop_process(int(running["pid"]), process_group=True, first_signal=signal.SIGINT, timeout=20)
        self.airflow_pid_file.unlink(missing_ok=True)
        say("Airflow stopped")

    def ui_password_file(self) -> Path:
        return ui_password_file(self.airflow_home)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


# -- process helpers ---------------------------------------------------------------------


def _int_setting(name: str, default: int, low: int, high: int) -> int:
    """Read integer setting ``name`` from the environment, within ``[low, high]``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise StackError(f"{name}={raw!r} is invalid: expected a whole number from {low} to {high}")
    return value


def _write_pid_file(path: Path, content: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content) + "\n")


def _read_pid_file(path: Path) -> dict[str, object] | None:
    """Return the pid file's content when its process is alive; drop a stale file."""
    try:
        content = json.loads(path.read_text())
        pid = int(content["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    return content


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_process(
    pid: int, *, process_group: bool, first_signal: int = signal.SIGTERM, timeout: float = 20
) -> None:
    """Signal ``pid`` (and its process group), escalate to SIGTERM then SIGKILL, and wait."""
    import psutil

    try:
        group = os.getpgid(pid) if process_group else None
    except ProcessLookupError:
        return
    if group is not None and group != pid:
        group = None  # not a group leader we started: never signal someone else's group

    def members() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.pid == pid or (group is not None and os.getpgid(proc.pid) == group):
                    found.append(proc)
            except (ProcessLookupError, psutil.Error):
                continue
        return found

    for sig in (first_signal, signal.SIGTERM, signal.SIGKILL):
        procs = members()
        if not procs:
            return
        try:
            if group is not None and sig != first_signal:
                os.killpg(group, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
        _, alive = psutil.wait_procs(procs, timeout=timeout if sig != signal.SIGKILL else 5)
        if not alive:
            return


def _tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    try:
        with open(path, "rb") as log_file:
            log_file.seek(offset)
            text = log_file.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
