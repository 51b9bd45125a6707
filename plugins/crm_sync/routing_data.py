"""Routing reference data for the marketing side: queues, assignment rules, Case priorities.

Paminga-style platforms let marketing hand a new Lead to a queue or to Salesforce's
assignment rules, and show Case queues and priorities. The full sync publishes them next to
the users (`crm_sync.reference_data`): `crm_queues` (Groups of type Queue, with the objects
each takes from `QueueSobject`), `crm_assignment_rules` (Lead and Case rules, with
Salesforce's Active flag) and `crm_case_priorities` (the `Priority` picklist of Case).
Refreshes are idempotent: an unchanged row is not rewritten; something gone from Salesforce
is deactivated and stamped `removed_at`, never deleted.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from crm_sync.salesforce import SalesforceGateway
from crm_sync.salesforce.soql import assignment_rules_query, queue_objects_query, queues_query
from crm_sync.sqlfiles import read_sql, template


def read_routing_data(sf: SalesforceGateway) -> dict[str, list[dict[str, Any]]]:
    """Queues (with `SobjectTypes`), assignment rules and Case priorities as Salesforce has them."""
    taken: dict[str, list[str]] = defaultdict(list)
    for row in sf.query_records(queue_objects_query()):
        taken[row["QueueId"]].append(row["SobjectType"])
    queues = [{**q, "SobjectTypes": sorted(taken.get(q["Id"], []))} for q in sf.query_records(queues_query())]
    rules = sf.query_records(assignment_rules_query())
    case = sf.describe("Case")
    priorities: list[dict[str, Any]] = next(
        (list(f.get("picklistValues") or []) for f in case["fields"] if f["name"] == "Priority"), [])
    return {"queues": queues, "assignment_rules": rules, "case_priorities": priorities}


def publish_routing_data(mk: psycopg.Connection, data: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Upsert the routing data into the marketing tables; returns the rows changed per table."""
    queues, rules, priorities = data["queues"], data["assignment_rules"], data["case_priorities"]
    changed = {
        "crm_queues": mk.execute(read_sql("reference/queues.sql"), {
            "ids": [q["Id"] for q in queues], "names": [q["Name"] for q in queues],
            "developer_names": [q["DeveloperName"] for q in queues], "emails": [q.get("Email") for q in queues],
            "sobjects": [",".join(q["SobjectTypes"]) for q in queues]}).rowcount,
        "crm_assignment_rules": mk.execute(read_sql("reference/assignment_rules.sql"), {
            "ids": [r["Id"] for r in rules], "names": [r["Name"] for r in rules],
            "sobject_types": [r["SobjectType"] for r in rules], "active": [bool(r["Active"]) for r in rules]}).rowcount,
        "crm_case_priorities": mk.execute(read_sql("reference/case_priorities.sql"), {
            "values": [p["value"] for p in priorities], "labels": [p.get("label") for p in priorities],
            "defaults": [bool(p.get("defaultValue")) for p in priorities],
            "orders": list(range(1, len(priorities) + 1)), "active": [bool(p.get("active")) for p in priorities]
        }).rowcount,
    }
    for table, key, keys in (("crm_queues", "sf_id", [q["Id"] for q in queues]),
                             ("crm_assignment_rules", "sf_id", [r["Id"] for r in rules]),
                             ("crm_case_priorities", "value", [p["value"] for p in priorities])):
        statement = template("reference/deactivate_removed.sql", table=sql.Identifier(table), key=sql.Identifier(key))
        changed[table] += mk.execute(statement, {"keys": keys}).rowcount
    return changed
