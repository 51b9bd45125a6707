"""The full sync's own pieces: its lock, and the reference data marketing needs.

While the full sync holds the `full_sync` lock, differential runs skip (and say why).
Reference data: record owners (Users) into the marketing table `crm_users`, and the
active picklist values from describe into `crm_mapping.picklist_values`; an active value
that a value map does not cover is reported by name.
"""

from __future__ import annotations

import logging
from typing import Any

from crm_sync import runs
from crm_sync.db import connect
from crm_sync.mapping.loader import load_mappings
from crm_sync.paths import mappings_dir
from crm_sync.salesforce import SalesforceClient
from crm_sync.settings import load_settings

log = logging.getLogger(__name__)

USER_FIELDS = ("Id", "Username", "Email", "FirstName", "LastName", "Title", "IsActive")


class LockHeld(RuntimeError):
    """Another full sync holds the lock."""


def acquire_lock(holder: str) -> None:
    """Take the full-sync lock for `holder` (a DAG run id); taking it again is a no-op.

    Raises:
        LockHeld: naming the run that holds it.
    """
    settings = load_settings()
    with connect(settings.warehouse_conn_id) as wh:
        from crm_sync.migrations import migrate

        migrate(wh, "warehouse")
        wh.execute("INSERT INTO crm_sync.locks (name, holder) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                   (runs.FULL_SYNC_LOCK, holder))
        current = runs.lock_holder(wh, runs.FULL_SYNC_LOCK)
        wh.commit()
    if current != holder:
        raise LockHeld(f"full sync {current} is still running (or died holding the lock: see docs/operations.md)")
    log.info("full-sync lock taken by %s; differential syncs skip until it is released", holder)


def release_lock(holder: str) -> bool:
    """Release the lock if `holder` has it; returns whether it did."""
    settings = load_settings()
    with connect(settings.warehouse_conn_id) as wh:
        released = wh.execute("DELETE FROM crm_sync.locks WHERE name = %s AND holder = %s",
                              (runs.FULL_SYNC_LOCK, holder)).rowcount
        wh.commit()
    if released:
        log.info("full-sync lock released by %s", holder)
    return bool(released)


def refresh_reference_data(object_names: list[str], *, dry_run: bool = False) -> dict[str, Any]:
    """Refresh record owners and active picklist values; report value-map gaps by name.

    A dry run reads and reports but writes nothing.
    """
    settings = load_settings()
    mapping_set = load_mappings(mappings_dir())
    sf = SalesforceClient.from_connection(settings.salesforce_conn_id)
    users = [u for page in sf.iter_rest_pages(f"SELECT {', '.join(USER_FIELDS)} FROM User") for u in page]
    with connect(settings.marketing_conn_id) as mk, mk.cursor() as cur:
        if dry_run:
            users = []
        cur.executemany(
            "INSERT INTO crm_users (sf_id, username, email, first_name, last_name, title, is_active)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sf_id) DO UPDATE SET"
            " username = EXCLUDED.username, email = EXCLUDED.email, first_name = EXCLUDED.first_name,"
            " last_name = EXCLUDED.last_name, title = EXCLUDED.title, is_active = EXCLUDED.is_active,"
            " updated_at = now()"
            " WHERE (crm_users.username, crm_users.email, crm_users.first_name, crm_users.last_name,"
            " crm_users.title, crm_users.is_active) IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.email,"
            " EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.title, EXCLUDED.is_active)",
            [tuple(u[f] for f in USER_FIELDS) for u in users],
        )
    gaps: dict[str, list[str]] = {}
    with connect(settings.warehouse_conn_id) as wh:
        for object_name in object_names:
            mapping = mapping_set.get(object_name)
            description = getattr(sf.sf, mapping.object).describe()
            picklists = {f["name"]: f["picklistValues"] for f in description["fields"] if f.get("picklistValues")}
            if not dry_run:
                wh.execute("DELETE FROM crm_mapping.picklist_values WHERE object = %s", (mapping.object,))
            with wh.cursor() as cur:
                cur.executemany(
                    "INSERT INTO crm_mapping.picklist_values (object, field, value, label, active)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    [] if dry_run else
                    [(mapping.object, name, v["value"], v.get("label"), bool(v.get("active")))
                     for name, values in picklists.items() for v in values],
                )
            for field in mapping.fields:
                if not field.values:
                    continue
                known = set(mapping_set.value_maps[field.values].crm_values)
                active = [v["value"] for v in picklists.get(field.source, []) if v.get("active")]
                missing = [value for value in active if value not in known]
                if missing:
                    key = f"{mapping.object}.{field.source} (value map {field.values})"
                    gaps[key] = missing
                    log.warning("%s: active Salesforce value(s) missing from the value map: %s",
                                key, ", ".join(missing))
        wh.commit()
    log.info("reference data: %d user(s) refreshed; value-map gaps: %s (%d API calls)", len(users),
             gaps or "none", sf.api_calls)
    return {"users": len(users), "value_map_gaps": gaps, "api_calls": sf.api_calls}
