"""Locked fields: the marketing columns Salesforce owns, published and guarded.

Every run's prepare step publishes, from the mapping files, the columns Salesforce owns in
`crm_locked_fields` (marketing database) — a column is locked when every mapping that maps
it has direction `from_crm` — and puts the guard trigger (`crm_locked_fields_guard`,
migration `marketing/0012_locked_fields.sql`) on each target table. An update by anyone but
the sync that changes a locked column of a row linked to Salesforce is then, per
`CRM_LOCKED_FIELDS`:

- `reject` (default): refused with an error naming the table, the column and the Salesforce
  field that owns it (SQLSTATE 42501, `insufficient_privilege`);
- `revert`: undone at once, the rest of the update kept, with a NOTICE saying so;
- `off`: allowed (the write-back overwrites it from Salesforce later, as before).

Inserts may set every column (a form creating a person), and rows not linked to Salesforce
yet may be edited freely. Publishing is idempotent: a run that changes nothing writes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import psycopg

from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import Direction
from crm_sync.sqlfiles import ident, read_sql, template

log = logging.getLogger(__name__)

GUARD_TRIGGER = "crm_locked_fields_guard"
REASON = "from_crm: Salesforce owns it; change it in Salesforce and the sync brings it here"
# Serialises publishing: the differentials of several objects prepare at the same minute.
_PUBLISH_LOCK = 4_217_016


def locked_columns(mapping_set: MappingSet) -> dict[tuple[str, str], list[str]]:
    """(table, column) -> the Salesforce fields that own it, for every locked column."""
    owners: dict[tuple[str, str], list[str]] = defaultdict(list)
    unlocked: set[tuple[str, str]] = set()
    for mapping in mapping_set.objects:
        for field in mapping.fields:
            key = (mapping.target, field.target)
            if field.direction is Direction.FROM_CRM:
                owners[key].append(f"{mapping.object}.{field.source}")
            else:
                unlocked.add(key)  # the marketing side writes it through some mapping
    return {key: sorted(fields) for key, fields in sorted(owners.items()) if key not in unlocked}


def hold_publish_lock(conn: psycopg.Connection) -> None:
    """Take the publication's lock for the transaction, before any target table is touched.

    `publish` adds guard triggers to the target tables while holding this lock; a prepare that
    altered a target table first and then waited for this lock would deadlock with it. So
    every marketing prepare takes this lock first (the same order everywhere).
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUBLISH_LOCK,))


def publish(conn: psycopg.Connection, mapping_set: MappingSet, action: str) -> int:
    """Publish the locked columns and guard every existing target table; returns rows written.

    The caller commits.
    """
    hold_publish_lock(conn)
    locked = locked_columns(mapping_set)
    row = conn.execute(read_sql("locked/publish.sql"), {
        "tables": [t for t, _ in locked], "columns": [c for _, c in locked],
        "owners": [", ".join(owners) for owners in locked.values()],
        "reasons": [REASON] * len(locked), "actions": [action] * len(locked)}).fetchone()
    changed = int(row[0]) if row else 0
    for table in sorted({m.target for m in mapping_set.objects}):
        present = conn.execute(read_sql("prepare/tracking_triggers.sql"),
                               {"table": table, "triggers": [GUARD_TRIGGER]}).fetchone()
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        if present is None and exists and exists[0]:
            conn.execute(template("locked/guard_table.sql", table=ident(table)))
            log.info("locked-fields guard added to %s", table)
    if changed:
        log.info("published %d locked-field change(s) (CRM_LOCKED_FIELDS=%s)", changed, action)
    return changed
