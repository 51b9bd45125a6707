"""Step 1, prepare: the databases are ready for a run, or the run is skipped and says why.

Shared by every kind of run, inbound and write-back: migrations of both databases, the
value maps reloaded from the mapping files, the marketing target tables (and their change
tracking) present, and the full-sync lock respected.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import psycopg

from crm_sync import alerts, locked_fields, locks, runs
from crm_sync.context import RunContext
from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import ObjectMapping
from crm_sync.migrations import migrate
from crm_sync.runs import RunKind
from crm_sync.sqlfiles import read_sql
from crm_sync.targets import ensure_target_table

log = logging.getLogger(__name__)

# Serialises the reload of the value maps: the differentials of several objects start at the
# same minute, and two concurrent delete-and-insert reloads would collide on their keys.
_VALUE_MAPS_LOCK = 4_217_002


class SyncSkipped(RuntimeError):
    """The run must not sync now (a full sync holds the lock); a skipped run is logged."""


def load_value_maps(conn: psycopg.Connection, mapping_set: MappingSet) -> None:
    """Replace the warehouse's value maps with those of the mapping files (the caller commits)."""
    pairs = [(vm.name, crm, mkt) for vm in mapping_set.value_maps.values() for crm, mkt in vm.pairs]
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_VALUE_MAPS_LOCK,))
    conn.execute("DELETE FROM crm_mapping.value_maps")
    conn.execute(read_sql("prepare/value_maps.sql"), {"names": [p[0] for p in pairs],
                                                       "crm_values": [p[1] for p in pairs],
                                                       "marketing_values": [p[2] for p in pairs]})


def prepare(ctx: RunContext, mappings: list[ObjectMapping], *, kind: RunKind, dag_run_id: str | None = None,
            respect_lock: bool = True, skipped_objects: list[ObjectMapping] | None = None) -> None:
    """Migrate both databases, reload the value maps, make sure the mappings' targets exist.

    Raises:
        SyncSkipped: when `respect_lock` and a full sync holds the lock; a skipped run of
            `kind` is logged for each of `skipped_objects` (default: `mappings`).
    """
    with ctx.warehouse() as wh:
        migrate(wh, "warehouse")
        holder = locks.lock_holder(wh)
        if holder and respect_lock:
            waits = "the write-back waits" if kind is RunKind.WRITEBACK else "differential syncs wait"
            reason = f"full sync {holder} is running; {waits} for it"
            for mapping in mappings if skipped_objects is None else skipped_objects:
                runs.log_skipped_run(wh, object_name=mapping.object, kind=kind, dag_run_id=dag_run_id,
                                     reason=reason)
            wh.commit()
            raise SyncSkipped(reason)
        load_value_maps(wh, ctx.mappings)
        wh.commit()
    prepare_marketing(ctx, mappings)


def prepare_marketing(ctx: RunContext, mappings: list[ObjectMapping]) -> None:
    """Migrate the marketing database, make sure the mappings' target tables exist, publish locked fields."""
    with ctx.marketing() as mk:
        migrate(mk, "marketing")
        locked_fields.hold_publish_lock(mk)  # first: publish below locks the target tables too
        for mapping in mappings:
            ensure_target_table(mk, mapping)
        locked_fields.publish(mk, ctx.mappings, ctx.settings.locked_fields)
        mk.commit()


def prepare_object(ctx: RunContext, object_name: str, *, dag_run_id: str | None = None,
                   respect_lock: bool = True) -> None:
    """`prepare` for one object's inbound run (differential unless `respect_lock` is off).

    A differential also checks the object's freshness first: with no successful run for
    `CRM_ALERT_STALE_INTERVALS` intervals (skipped runs included) it sends a `stale` alert.
    """
    mapping = ctx.mapping(object_name)
    try:
        prepare(ctx, [mapping], kind=RunKind.DIFFERENTIAL, dag_run_id=dag_run_id, respect_lock=respect_lock)
    finally:
        if respect_lock and mapping.schedule is None:
            _alert_if_stale(ctx, mapping)


def _alert_if_stale(ctx: RunContext, mapping: ObjectMapping) -> None:
    with ctx.warehouse() as wh:
        last = wh.execute(read_sql("prepare/last_success.sql"), {"object": mapping.object}).fetchone()
    alert = alerts.stale(mapping.object, last[0] if last else None, ctx.settings.interval, datetime.now(UTC),
                         dag_id=mapping.dag_id)
    if alert:
        alerts.send_alert(alert)
