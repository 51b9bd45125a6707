"""Start the emulator as a subprocess and hand back a handle to it.

Typical use in a test or a benchmark::

    with start_emulator(tmp_path / "org", records=1000) as emu:
        os.environ["REQUESTS_CA_BUNDLE"] = str(emu.cert_path)
        sf = Salesforce(username=..., password=..., security_token=..., domain=emu.login_domain)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "READY "


@dataclass
class EmulatorHandle:
    """A running emulator process.

    Attributes:
        url: Base URL, ``https://127.0.0.1:PORT``.
        port: The TCP port the server listens on.
        state_dir: The state directory (SQLite org, certificate, jobs).
        cert_path: The self-signed certificate clients must trust (``state_dir / "cert.pem"``).
        process: The server subprocess.
        log_path: Where the server's stdout and stderr go.
    """

    url: str
    port: int
    state_dir: Path
    cert_path: Path
    process: subprocess.Popen
    log_path: Path | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def login_domain(self) -> str:
        """The ``domain`` argument for simple-salesforce logins (SOAP and OAuth)."""
        return f"127.0.0.1:{self.port}/login"

    @property
    def instance_url(self) -> str:
        """The instance URL for direct session logins."""
        return self.url

    def stop(self, timeout: float = 20) -> None:
        """Stop the server with SIGTERM (state is persisted); kill it if it does not exit in time.

        Safe to call more than once.
        """
        proc = self.process
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._pump is not None:
            self._pump.join(timeout=5)
            self._pump = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def admin(self) -> AdminClient:
        """Return an :class:`~emulator.admin.AdminClient` bound to this server."""
        from emulator.admin import AdminClient

        return AdminClient(self.url, self.cert_path)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pump_output(stream: IO[bytes], sink: IO[bytes]) -> None:
    """Copy the child's remaining output to the log file until it closes its stdout."""
    try:
        for chunk in iter(lambda: stream.read1(65536), b""):
            sink.write(chunk)
            sink.flush()
    except (OSError, ValueError):
        pass


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


def start_emulator(
    state_dir: Path,
    *,
    port: int = 0,
    records: int | None = None,
    seed: int = 1,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
    log_path: Path | None = None,
    timeout: float = 180,
) -> EmulatorHandle:
    """Start ``python -m emulator serve`` as a subprocess and wait until it is ready.

    Args:
        state_dir: The state directory; created if missing. A fresh one is seeded with
            ``records`` Contacts; an existing one is reused as it is.
        port: TCP port; 0 picks a free one.
        records: Number of Contacts to seed into a fresh state directory (None: the server's default).
        seed: Generator seed (same records and seed give the same org).
        extra_args: More ``serve`` flags, e.g. ``["--bulk-delay", "1"]``.
        python: The interpreter to run the server with.
        log_path: Where the child's stdout/stderr go (default ``state_dir / "emulator.log"``).
        timeout: Seconds to wait for the READY line.

    Returns:
        A handle on the running server.

    Raises:
        RuntimeError: The server exited early or was not ready in time; the message carries
            the tail of its log.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else state_dir / "emulator.log"
    cmd = [python, "-m", "emulator", "serve", "--port", str(port), "--state-dir", str(state_dir),
           "--seed", str(seed)]
    if records is not None:
        cmd += ["--records", str(records)]
    cmd += list(extra_args)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the handle, closed in stop()
    proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), stdout=subprocess.PIPE, stderr=log_file, env=env)
    assert proc.stdout is not None
    ready: dict[str, str] = {}
    lines_seen: list[bytes] = []

    def read_ready() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith(READY_PREFIX):
                ready["url"] = line[len(READY_PREFIX):].strip()
                return
            lines_seen.append(raw)

    reader = threading.Thread(target=read_ready, name="emulator-ready", daemon=True)
    reader.start()
    reader.join(timeout)
    for raw in lines_seen:
        log_file.write(raw)
    log_file.flush()
    if "url" not in ready:
        why = "was not ready in time" if reader.is_alive() else "exited early"
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        reader.join(5)
        log_file.close()
        raise RuntimeError(
            f"emulator {why} (exit code {proc.returncode}); log {log_path}:\n{_tail(log_path)}"
        )
    url = ready["url"]
    pump = threading.Thread(target=_pump_output, args=(proc.stdout, log_file), name="emulator-log", daemon=True)
    pump.start()
    actual_port = int(url.rsplit(":", 1)[1])
    return EmulatorHandle(
        url=url,
        port=actual_port,
        state_dir=state_dir,
        cert_path=state_dir / "cert.pem",
        process=proc,
        log_path=log_path,
        _log_file=log_file,
        _pump=pump,
    )
