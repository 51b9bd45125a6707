"""Near-real-time write-back: an Airflow event trigger on the marketing outbox.

The marketing database notifies the channel `crm_outbox` whenever a statement adds or
renews pending changes (marketing migration 0006). `OutboxTrigger` runs in Airflow's
triggerer, listens on that channel and, once a burst of changes is over (no notification
for `quiet_seconds`, or `max_wait_seconds` after the first), fires one event if changes are
still pending. The event updates the Asset `crm-sync://marketing/crm_outbox`, which
`crm_writeback` is scheduled on besides its interval: a marketing change reaches
Salesforce within about `max_wait_seconds` plus one write-back run, and a burst of changes
makes one run. The hourly interval stays as the safety net (a missed notification, a
triggerer that was down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import psycopg
from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from psycopg.conninfo import make_conninfo

from crm_sync.settings import Settings, WritebackSettings

log = logging.getLogger(__name__)

CHANNEL = "crm_outbox"
#: How long to wait for a notification before checking that the connection is still alive.
_KEEPALIVE_SECONDS = 60.0
_RECONNECT_SECONDS = 10.0


class OutboxTrigger(BaseEventTrigger):
    """Fires once per burst of marketing changes that are pending write-back.

    Args:
        conn_id: The Airflow connection of the marketing database.
        quiet_seconds: A burst is over after this long without a notification.
        max_wait_seconds: ...or this long after its first notification, whichever is first.
    """

    def __init__(self, conn_id: str, quiet_seconds: float, max_wait_seconds: float) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.quiet_seconds = float(quiet_seconds)
        self.max_wait_seconds = float(max_wait_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and keyword arguments the triggerer re-creates the trigger from."""
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"conn_id": self.conn_id, "quiet_seconds": self.quiet_seconds,
                 "max_wait_seconds": self.max_wait_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Listen for ever; reconnect after a lost connection (the triggerer logs each retry)."""
        while True:
            try:
                async for event in self._listen():
                    yield event
            except psycopg.OperationalError as exc:
                log.warning("marketing database (connection %r) unreachable: %s; listening again in %.0f s",
                            self.conn_id, str(exc).strip(), _RECONNECT_SECONDS)
                await asyncio.sleep(_RECONNECT_SECONDS)

    async def _listen(self) -> AsyncIterator[TriggerEvent]:
        conninfo = await _conninfo(self.conn_id)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                         application_name="crm_sync_outbox_trigger") as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            log.info("listening for marketing changes on %r (quiet %.0f s, at most %.0f s per burst)",
                     CHANNEL, self.quiet_seconds, self.max_wait_seconds)
            pending = await _pending(conn)  # changes made while nobody listened
            if pending:
                yield _event(pending)
            while True:
                if not await _notified(conn, _KEEPALIVE_SECONDS):
                    await conn.execute("SELECT 1")  # a dead connection raises here
                    continue
                await self._wait_for_quiet(conn)
                pending = await _pending(conn)
                if pending:
                    log.info("%d marketing row(s) pending write-back: starting crm_writeback", pending)
                    yield _event(pending)

    async def _wait_for_quiet(self, conn: psycopg.AsyncConnection) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_seconds
        while (remaining := min(self.quiet_seconds, deadline - loop.time())) > 0:
            if not await _notified(conn, remaining):
                return


async def _notified(conn: psycopg.AsyncConnection, timeout: float) -> bool:
    """Whether a notification arrived within `timeout` seconds."""
    # Closed explicitly: the generator holds the connection's lock until it is finalised.
    async with aclosing(conn.notifies(timeout=timeout, stop_after=1)) as received:
        async for _ in received:
            return True
    return False


async def _pending(conn: psycopg.AsyncConnection) -> int:
    """Rows waiting in the outbox (0 before the marketing migrations created it)."""
    try:
        cursor = await conn.execute("SELECT count(*) FROM crm_outbox")
    except psycopg.errors.UndefinedTable:
        return 0
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


def _event(pending: int) -> TriggerEvent:
    return TriggerEvent({"pending": pending, "at": datetime.now(UTC).isoformat()})


async def _conninfo(conn_id: str) -> str:
    """A libpq connection string for the Airflow connection (never logged)."""
    from airflow.sdk.bases.hook import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    params = {"host": conn.host, "port": conn.port, "user": conn.login, "password": conn.password,
              "dbname": conn.schema, "sslmode": conn.extra_dejson.get("sslmode")}
    return make_conninfo("", **{k: v for k, v in params.items() if v not in (None, "")})


def outbox_asset(settings: Settings, writeback: WritebackSettings) -> Any:
    """The Asset of the marketing outbox, watched by an `OutboxTrigger`."""
    from airflow.sdk import Asset, AssetWatcher

    trigger = OutboxTrigger(settings.marketing_conn_id, writeback.quiet_seconds, writeback.max_wait_seconds)
    return Asset(name="marketing.crm_outbox", uri="crm-sync://marketing/crm_outbox",
                 watchers=[AssetWatcher(name="crm_outbox_changes", trigger=trigger)])


def writeback_schedule(settings: Settings, writeback: WritebackSettings) -> Any:
    """`crm_writeback`'s schedule: its interval, and, unless switched off, every outbox burst."""
    if not writeback.on_change:
        return writeback.interval
    from airflow.sdk import AssetOrTimeSchedule, DeltaTriggerTimetable

    return AssetOrTimeSchedule(timetable=DeltaTriggerTimetable(writeback.interval),
                               assets=outbox_asset(settings, writeback))
