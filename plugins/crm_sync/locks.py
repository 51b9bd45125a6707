"""The full-sync lock, a lease that dies with its holder.

While a full sync holds it, differentials and write-backs skip and say why. The holder's
tasks renew the lease (`heartbeat`) while they work; a holder whose worker was killed stops
renewing, and once its lease (`CRM_SYNC_LOCK_LEASE_SECONDS`) has passed, the lock counts as
free: the next full sync takes it over and marks the dead holder's unfinished runs failed.
Nobody ever deletes a lock row by hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from crm_sync.sqlfiles import read_sql

log = logging.getLogger(__name__)

FULL_SYNC_LOCK = "full_sync"
DEFAULT_LEASE_SECONDS = 600


class LockHeld(RuntimeError):
    """Another full sync holds the lock (and is alive)."""


def lock_holder(conn: psycopg.Connection, name: str = FULL_SYNC_LOCK) -> str | None:
    """Who holds the named lock (a DAG run id), or None when it is free or its lease expired."""
    row = conn.execute(
        "SELECT holder FROM crm_sync.locks WHERE name = %s"
        " AND heartbeat_at >= now() - make_interval(secs => lease_seconds)", (name,)).fetchone()
    return row[0] if row else None


def acquire(conn: psycopg.Connection, holder: str, name: str = FULL_SYNC_LOCK, *,
            lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
    """Take (or renew) the lock for `holder`; an expired lease of a dead holder is taken over. Commits.

    Raises:
        LockHeld: naming the live run that holds it.
    """
    row = conn.execute(read_sql("locks/acquire.sql"),
                       {"name": name, "holder": holder, "lease": lease_seconds}).fetchone()
    taken, previous = row if row else (None, None)
    if taken == holder and previous and previous != holder:
        failed = conn.execute(read_sql("locks/fail_dead_runs.sql"),
                              {"holder": previous, "reason": f"lock {name} taken over by {holder}"}).rowcount
        log.warning("lock %s: the lease of %s expired (its worker stopped); taken over by %s, %d unfinished "
                    "run(s) of it marked failed", name, previous, holder, failed)
    conn.commit()
    if taken != holder:
        raise LockHeld(f"full sync {lock_holder(conn, name)} is still running (its lease is renewed while it "
                       f"works; a dead holder's lease expires after {lease_seconds} s)")
    log.info("lock %s held by %s; differential syncs skip until it is released", name, holder)


def release(conn: psycopg.Connection, holder: str, name: str = FULL_SYNC_LOCK) -> bool:
    """Release the lock if `holder` has it; returns whether it did. Commits."""
    released = conn.execute("DELETE FROM crm_sync.locks WHERE name = %s AND holder = %s", (name, holder)).rowcount
    conn.commit()
    if released:
        log.info("lock %s released by %s", name, holder)
    return bool(released)


@contextmanager
def heartbeat(connect: Callable[[], psycopg.Connection], holder: str, name: str = FULL_SYNC_LOCK, *,
              lease_seconds: int = DEFAULT_LEASE_SECONDS) -> Iterator[None]:
    """Renew `holder`'s lease every third of it while the block runs (in a daemon thread).

    The lock is (re)acquired first, so a holder whose lease lapsed between two of its tasks
    takes it back, unless another live run holds it (`LockHeld`).
    """
    with connect() as conn:
        acquire(conn, holder, name, lease_seconds=lease_seconds)
    stop = threading.Event()

    def renew() -> None:
        with connect() as conn:
            while not stop.wait(lease_seconds / 3):
                conn.execute("UPDATE crm_sync.locks SET heartbeat_at = now() WHERE name = %s AND holder = %s",
                             (name, holder))
                conn.commit()

    thread = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
