"""The write-back's event trigger against a real marketing database: one event per burst of
changes, none while nothing is pending, and the changes made before it listened."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlparse

import psycopg
import pytest

from crm_sync.outbox_trigger import OutboxTrigger


def _add_person(dsn: str, email: str) -> None:
    with psycopg.connect(dsn) as mk:
        mk.execute("INSERT INTO people (email, lead_score) VALUES (%s, 1)", (email,))


async def _events(trigger: OutboxTrigger, seconds: float) -> list[dict]:
    """The events the trigger fires within `seconds`."""
    fired: list[dict] = []

    async def collect() -> None:
        async for event in trigger.run():
            fired.append(event.payload)

    task = asyncio.create_task(collect())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return fired


async def _burst_after(dsn: str, delay: float, emails: list[str]) -> None:
    await asyncio.sleep(delay)
    for email in emails:  # one transaction each, 0.2 s apart: one burst
        await asyncio.to_thread(_add_person, dsn, email)
        await asyncio.sleep(0.2)


@pytest.fixture
def marketing(fresh_databases, monkeypatch) -> str:
    url = urlparse(fresh_databases.marketing)
    monkeypatch.setenv("AIRFLOW_CONN_OUTBOX_TEST", json.dumps({
        "conn_type": "postgres", "host": url.hostname, "port": url.port, "login": url.username or "postgres",
        "schema": url.path.lstrip("/")}))
    return fresh_databases.marketing


def test_a_burst_of_changes_fires_one_event_after_it_is_quiet(marketing) -> None:
    trigger = OutboxTrigger("outbox_test", quiet_seconds=1.0, max_wait_seconds=10.0)

    async def scenario() -> list[dict]:
        burst = asyncio.create_task(_burst_after(marketing, 1.0, [f"p{i}@example.com" for i in range(5)]))
        fired = await _events(trigger, 5.0)
        await burst
        return fired

    fired = asyncio.run(scenario())
    assert [e["pending"] for e in fired] == [5]  # one event for five transactions


def test_nothing_pending_fires_nothing_and_waiting_changes_fire_at_start(marketing) -> None:
    trigger = OutboxTrigger("outbox_test", quiet_seconds=0.5, max_wait_seconds=5.0)
    assert asyncio.run(_events(trigger, 2.0)) == []
    _add_person(marketing, "waiting@example.com")  # changed while nobody listened
    fired = asyncio.run(_events(trigger, 2.0))
    assert [e["pending"] for e in fired] == [1]
    with psycopg.connect(marketing) as mk:
        mk.execute("DELETE FROM crm_outbox")  # as a write-back clears it
    assert asyncio.run(_events(trigger, 2.0)) == []


def test_a_steady_stream_fires_by_max_wait_not_never(marketing) -> None:
    trigger = OutboxTrigger("outbox_test", quiet_seconds=2.0, max_wait_seconds=2.5)

    async def scenario() -> list[dict]:
        stream = asyncio.create_task(_burst_after(marketing, 0.5, [f"s{i}@example.com" for i in range(20)]))
        fired = await _events(trigger, 4.5)
        stream.cancel()
        return fired

    fired = asyncio.run(scenario())
    assert fired and fired[0]["pending"] < 20  # fired mid-stream, after max_wait
