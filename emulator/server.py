"""``serve``: seed (if fresh), start the HTTPS server, print READY, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO

from emulator.certs import ensure_certificate
from emulator.config import ServerConfig
from emulator.store import DB_NAME

log = logging.getLogger("emulator.server")
DEFAULT_RECORDS = 1000
LOCK_NAME = "server.lock"


class StateDirBusy(RuntimeError):
    """Another emulator process holds the state directory."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Take the state directory's exclusive lock (held for the life of the returned file)."""
    handle = open(state_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StateDirBusy(f"another emulator is serving {state_dir}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def state_dir_in_use(state_dir: Path) -> bool:
    """True if a server currently holds the state directory."""
    path = state_dir / LOCK_NAME
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def prepare_state(config: ServerConfig) -> None:
    """Seed a fresh state directory; reuse an existing org as it is (noting ignored flags on stderr)."""
    from emulator.generator import seed_org

    db = config.state_dir / DB_NAME
    if db.exists():
        if config.records is not None:
            print(f"note: {config.state_dir} already holds an org; --records {config.records} ignored",
                  file=sys.stderr, flush=True)
        return
    records = DEFAULT_RECORDS if config.records is None else config.records
    # Seed in a child process: the generator's working memory never lands in the server's RSS.
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        summary = pool.apply(seed_org, (config.state_dir, records, config.seed, config.username))
    print(f"seeded {records} Contacts (seed {config.seed}) in {summary['seconds']}s: {summary['counts']}",
          file=sys.stderr, flush=True)


def serve(config: ServerConfig) -> int:
    """Run the server until SIGTERM or SIGINT; returns the exit code."""
    from emulator.app import EmulatorApp
    from emulator.web import TlsServer

    config.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_state_dir(config.state_dir)
    except StateDirBusy as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    prepare_state(config)
    cert, key = ensure_certificate(config.state_dir)
    app = EmulatorApp(config)
    server = TlsServer(config.port, cert, key, app)
    app.base_url = f"https://127.0.0.1:{server.port}"
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="https", daemon=True)
    worker.start()
    print(f"READY {app.base_url}", flush=True)
    log.info("serving %s (state %s)", app.base_url, config.state_dir)
    try:
        while not stop.wait(1.0):
            try:
                app.housekeeping()
            except Exception:  # housekeeping must never take the server down
                log.exception("housekeeping failed")
    finally:
        server.shutdown()
        server.server_close()
        app.close()
        lock.close()
        log.info("stopped; state persisted in %s", config.state_dir)
    return 0
