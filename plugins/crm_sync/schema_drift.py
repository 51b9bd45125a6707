"""Schema drift: how Salesforce's description of an object moved since the last run.

Each extract compares the describe it just made with the one the previous run saw
(`crm_sync.object_fields`): fields that are new, mapped fields whose type changed, and mapped
fields that are gone (the extract then fails, naming them). What it finds is recorded in the
run's sync log report (`schema_drift`) and sent as a `schema_drift` alert; the first describe
of an object only records it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg

from crm_sync import alerts, runs
from crm_sync.mapping.model import ObjectMapping
from crm_sync.salesforce import FieldInfo
from crm_sync.sqlfiles import read_sql

log = logging.getLogger(__name__)


def record_drift(wh: psycopg.Connection, run_id: int, mapping: ObjectMapping,
                 described: Mapping[str, FieldInfo]) -> dict[str, Any]:
    """Compare with the previous describe, save this one, report and alert; returns the drift."""
    before: dict[str, str] = dict(wh.execute("SELECT field, type FROM crm_sync.object_fields WHERE object = %s",
                             (mapping.object,)).fetchall())
    now = {f.name: f.type for f in described.values()}
    mapped = {f.source.lower() for f in mapping.fields}
    drift: dict[str, Any] = {}
    if before:
        drift = {k: v for k, v in {
            "new": sorted(set(now) - set(before)),
            "removed": sorted(set(before) - set(now)),
            "changed": {name: [before[name], kind] for name, kind in sorted(now.items())
                        if name in before and before[name] != kind and name.lower() in mapped},
        }.items() if v}
    if now != before:  # an unchanged describe writes nothing (and waits for no other run)
        wh.execute(read_sql("extract/save_fields.sql"),
                   {"object": mapping.object, "fields": list(now), "types": list(now.values())})
        wh.execute("DELETE FROM crm_sync.object_fields WHERE object = %s AND field <> ALL(%s)",
                   (mapping.object, list(now)))
    if drift:
        runs.update_run(wh, run_id, report={"schema_drift": drift})
        log.warning("%s schema drift since the last run: %s", mapping.object, drift)
        alert = alerts.schema_drift(mapping.object, new=drift.get("new", []),
                                    changed={k: (v[0], v[1]) for k, v in drift.get("changed", {}).items()})
        if alert:
            alerts.send_alert(alert)
    return drift


def alert_missing_fields(mapping: ObjectMapping, missing: list[str]) -> None:
    """Alert that mapped fields are gone from Salesforce (the extract fails right after)."""
    alert = alerts.schema_drift(mapping.object, missing=missing)
    if alert:
        alerts.send_alert(alert)
