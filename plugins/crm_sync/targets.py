"""The marketing tables a mapping loads into: created when missing, new columns added, tracked.

Built-in tables come from migrations; this makes a mapping file for a new object (or a new
field) work without a code change. Every target gets the write-back's change tracking from
its first sync, so marketing-side edits of it are never missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import psycopg
from psycopg import sql

from crm_sync.mapping.model import ObjectMapping
from crm_sync.sqlfiles import ident, read_sql, template
from crm_sync.transform import column_type, normalised_key

log = logging.getLogger(__name__)

TRACKING_TRIGGERS = ("crm_track_insert", "crm_track_update")


def version_column(mapping: ObjectMapping) -> str:
    """The marketing column holding the SystemModstamp of the record a row carries.

    `sf_system_modstamp` on record tables; on `people`, one per linked object
    (`lead_sf_system_modstamp`, `contact_sf_system_modstamp`). The load never replaces a
    row with an older version than this.
    """
    return mapping.sf_id_column.removesuffix("sf_id") + "sf_system_modstamp"


def ensure_target_table(conn: psycopg.Connection, mapping: ObjectMapping) -> list[str]:
    """Create the mapping's target table if needed, add newly mapped columns, install tracking.

    Returns the columns it added. The caller commits.
    """
    # Leads and Contacts share `people`: their prepare steps may run at the same moment.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crm_sync.target.{mapping.target}",))
    conn.execute(template("prepare/target_table.sql", target=ident(mapping.target)))
    existing = {row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s", (mapping.target,))}
    added = []
    wanted = [(f.target, column_type(f)) for f in mapping.loaded_fields] + [(version_column(mapping), "timestamptz")]
    for name, kind in wanted:
        if name not in existing:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                ident(mapping.target), ident(name), sql.SQL(kind)))
            added.append(name)
    if mapping.match_key != "sf_id" and mapping.match_key in added and not mapping.is_people:
        conn.execute(sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
            ident(f"{mapping.target}_{mapping.match_key}_key"), ident(mapping.target), ident(mapping.match_key)))
        # The load finds stored keys not in normalised form through this (small) index.
        key = normalised_key(mapping, ident(mapping.match_key))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}) WHERE {} <> {}").format(
            ident(f"{mapping.target}_{mapping.match_key}_unnormalised"), ident(mapping.target), key,
            ident(mapping.match_key), key))
    if added:
        log.info("added column(s) %s to marketing table %s", ", ".join(added), mapping.target)
    install_tracking(conn, [mapping.target])
    return added


def install_tracking(conn: psycopg.Connection, tables: Iterable[str]) -> list[str]:
    """Add change tracking to the tables that lack it (custom targets); returns those tables."""
    added = []
    for table in sorted(set(tables)):
        present = {row[0] for row in conn.execute(read_sql("prepare/tracking_triggers.sql"),
                                                  {"table": table, "triggers": list(TRACKING_TRIGGERS)})}
        if present != set(TRACKING_TRIGGERS):
            conn.execute(template("prepare/track_table.sql", table=ident(table)))
            added.append(table)
    if added:
        log.info("change tracking added to %s", ", ".join(added))
    return added
