"""Reference data the marketing side needs: record owners, routing and the picklists' active values.

Record owners (Users) go to the marketing table `crm_users`; queues, assignment rules and
Case priorities to `crm_queues`, `crm_assignment_rules`, `crm_case_priorities`
(`crm_sync.routing_data`); the picklist values of each
synced object are saved as every run saves them (`crm_sync.picklists`); an active value that
a value map does not cover is reported by name (records carrying it would be quarantined).
"""

from __future__ import annotations

import logging
from typing import Any

from crm_sync.context import RunContext
from crm_sync.picklists import record_picklists
from crm_sync.routing_data import publish_routing_data, read_routing_data
from crm_sync.salesforce.soql import USER_FIELDS, users_query
from crm_sync.sqlfiles import read_sql

log = logging.getLogger(__name__)


def refresh_reference_data(ctx: RunContext, object_names: list[str], *, dry_run: bool = False) -> dict[str, Any]:
    """Refresh record owners, routing data and active picklist values; report value-map gaps by name.

    A dry run reads and reports but writes nothing.
    """
    sf = ctx.salesforce()
    users = sf.query_records(users_query())
    routing = read_routing_data(sf)
    routing_changed: dict[str, int] = {}
    if not dry_run:
        columns = {f: [u[f] for u in users] for f in USER_FIELDS}
        with ctx.marketing() as mk:
            mk.execute(read_sql("reference/users.sql"), {
                "ids": columns["Id"], "usernames": columns["Username"], "emails": columns["Email"],
                "first_names": columns["FirstName"], "last_names": columns["LastName"],
                "titles": columns["Title"], "active": columns["IsActive"]})
            routing_changed = publish_routing_data(mk, routing)
    gaps: dict[str, list[str]] = {}
    with ctx.warehouse() as wh:
        for object_name in object_names:
            mapping = ctx.mapping(object_name)
            description = sf.describe(mapping.object)
            picklists = {f["name"]: f["picklistValues"] for f in description["fields"] if f.get("picklistValues")}
            if not dry_run:
                record_picklists(wh, None, mapping.object, description)
            for field in mapping.fields:
                if not field.values:
                    continue
                known = set(ctx.mappings.value_maps[field.values].crm_values)
                active = [v["value"] for v in picklists.get(field.source, []) if v.get("active")]
                missing = [value for value in active if value not in known]
                if missing:
                    key = f"{mapping.object}.{field.source} (value map {field.values})"
                    gaps[key] = missing
                    log.warning("%s: active Salesforce value(s) missing from the value map: %s",
                                key, ", ".join(missing))
        wh.commit()
    log.info("reference data: %d user(s) refreshed; value-map gaps: %s (%d API calls)", 0 if dry_run else len(users),
             gaps or "none", sf.api_calls)
    routing_counts = {name: len(rows) for name, rows in routing.items()}
    log.info("reference data: routing %s; rows changed: %s", routing_counts, routing_changed or "none (dry run)")
    return {"users": 0 if dry_run else len(users), "value_map_gaps": gaps, "api_calls": sf.api_calls,
            "routing": routing_counts, "routing_changed": routing_changed}
