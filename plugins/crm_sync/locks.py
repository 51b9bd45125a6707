"""The full-sync lock: while a full sync holds it, differentials and write-backs skip and say why."""

from __future__ import annotations

import logging

import psycopg

log = logging.getLogger(__name__)

FULL_SYNC_LOCK = "full_sync"


class LockHeld(RuntimeError):
    """Another full sync holds the lock."""


def lock_holder(conn: psycopg.Connection, name: str = FULL_SYNC_LOCK) -> str | None:
    """Who holds the named lock (a DAG run id), or None."""
    row = conn.execute("SELECT holder FROM crm_sync.locks WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None


def acquire(conn: psycopg.Connection, holder: str, name: str = FULL_SYNC_LOCK) -> None:
    """Take the lock for `holder`; taking it again is a no-op. Commits.

    Raises:
        LockHeld: naming the run that holds it.
    """
    conn.execute("INSERT INTO crm_sync.locks (name, holder) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                 (name, holder))
    current = lock_holder(conn, name)
    conn.commit()
    if current != holder:
        raise LockHeld(f"full sync {current} is still running (or died holding the lock: see docs/operations.md)")
    log.info("full-sync lock taken by %s; differential syncs skip until it is released", holder)


def release(conn: psycopg.Connection, holder: str, name: str = FULL_SYNC_LOCK) -> bool:
    """Release the lock if `holder` has it; returns whether it did. Commits."""
    released = conn.execute("DELETE FROM crm_sync.locks WHERE name = %s AND holder = %s", (name, holder)).rowcount
    conn.commit()
    if released:
        log.info("full-sync lock released by %s", holder)
    return bool(released)
