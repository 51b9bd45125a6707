"""Picklists, kept in step with Salesforce on every run.

Every extract already describes its object; the picklist values in that description (value,
label, active flag) are compared with what the previous run saw (`crm_mapping.picklist_values`
in the warehouse). A value that is new, removed, deactivated or activated is recorded in the
run's sync log report (`picklist_changes`) and logged; the first describe of an object only
records. The load then publishes the object's values to the marketing database
(`crm_picklist_values`), so the marketing app offers exactly the values Salesforce accepts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg

from crm_sync import runs
from crm_sync.sqlfiles import read_sql

log = logging.getLogger(__name__)

Values = dict[tuple[str, str], tuple[str | None, bool]]  # (field, value) -> (label, active)


def described_values(description: Mapping[str, Any]) -> Values:
    """The picklist values of a describe result."""
    return {(f["name"], v["value"]): (v.get("label"), bool(v.get("active")))
            for f in description["fields"] for v in f.get("picklistValues") or []}


def changes_between(before: Values, now: Values) -> dict[str, dict[str, list[str]]]:
    """Per field: the values that are new, removed, deactivated or activated."""
    changes: dict[str, dict[str, list[str]]] = {}
    for field in sorted({f for f, _ in before} | {f for f, _ in now}):
        old = {v: a for (f, v), (_, a) in before.items() if f == field}
        new = {v: a for (f, v), (_, a) in now.items() if f == field}
        entry = {
            "new": sorted(set(new) - set(old)),
            "removed": sorted(set(old) - set(new)),
            "deactivated": sorted(v for v in set(old) & set(new) if old[v] and not new[v]),
            "activated": sorted(v for v in set(old) & set(new) if new[v] and not old[v]),
        }
        entry = {kind: values for kind, values in entry.items() if values}
        if entry:
            changes[field] = entry
    return changes


def record_picklists(wh: psycopg.Connection, run_id: int | None, object_name: str,
                     description: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Save the object's picklist values from its describe; report what changed since the run before."""
    now = described_values(description)
    before: Values = {(field, value): (label, active) for field, value, label, active in wh.execute(
        "SELECT field, value, label, active FROM crm_mapping.picklist_values WHERE object = %s", (object_name,))}
    changes = changes_between(before, now) if before else {}
    if now != before:
        keys = list(now)
        wh.execute(read_sql("reference/picklist_values.sql"), {
            "object": object_name, "fields": [k[0] for k in keys], "values": [k[1] for k in keys],
            "labels": [now[k][0] for k in keys], "active": [now[k][1] for k in keys]})
        wh.execute("DELETE FROM crm_mapping.picklist_values p WHERE p.object = %s AND (p.field, p.value) NOT IN"
                   " (SELECT * FROM unnest(%s::text[], %s::text[]))",
                   (object_name, [k[0] for k in keys], [k[1] for k in keys]))
    if changes and run_id is not None:
        runs.update_run(wh, run_id, report={"picklist_changes": changes})
        log.warning("%s picklist values changed since the last run: %s", object_name, changes)
    return changes


def publish_picklists(wh: psycopg.Connection, mk: psycopg.Connection, object_name: str) -> bool:
    """Bring the marketing database's `crm_picklist_values` of the object in line; returns whether it changed.

    Does not commit: the caller's marketing transaction (the load's) carries it.
    """
    query = ("SELECT field, value, label, active FROM {} WHERE object = %s ORDER BY field, value")
    rows = wh.execute(query.format("crm_mapping.picklist_values"), (object_name,)).fetchall()
    if mk.execute(query.format("crm_picklist_values"), (object_name,)).fetchall() == rows:
        return False
    mk.execute("DELETE FROM crm_picklist_values WHERE object = %s", (object_name,))
    mk.execute(read_sql("reference/publish_picklist_values.sql"), {
        "object": object_name, "fields": [r[0] for r in rows], "values": [r[1] for r in rows],
        "labels": [r[2] for r in rows], "active": [r[3] for r in rows]})
    log.info("%s: %d picklist value(s) published to the marketing database", object_name, len(rows))
    return True
