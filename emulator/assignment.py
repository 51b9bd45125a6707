"""Queues and assignment rules: the seeded routing set-up and how an insert applies a rule.

The org gets four queues (`Group` rows of type Queue, with `QueueSobject` rows saying
which objects each takes), two Lead assignment rules (one active) and one Case rule. A rule
is kept deliberately simple: ordered entries, each `field = value → owner`, and a last entry
without a condition (the rule's default owner). Entries live in the emulator-only table
`_assignment_entries` (in Salesforce they are metadata, not queryable records).

An insert asks for a rule with Bulk API 2.0's `assignmentRuleId` or REST's
`Sforce-Auto-Assign` header (`TRUE`: the active rule; an Id: that rule; `FALSE`: none);
the first entry whose condition matches the new record sets its `OwnerId`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from emulator.ids import make_id

STAMP = "2022-01-01T00:00:00.000Z"
ENTRIES_DDL = ("CREATE TABLE IF NOT EXISTS _assignment_entries (rule_id TEXT NOT NULL, sort INTEGER NOT NULL,"
               " field TEXT, value TEXT, owner_id TEXT NOT NULL, PRIMARY KEY (rule_id, sort))")

# (name, developer name, objects taken)
QUEUES = (("Web Leads", "Web_Leads", ("Lead",)), ("Lead Inbox", "Lead_Inbox", ("Lead",)),
          ("Support Tier 1", "Support_Tier_1", ("Case",)), ("Escalations", "Escalations", ("Case",)))
# (name, object, active, entries as (field, value, owner: "queue:<developer name>" | "user:<n>"))
RULES: tuple[tuple[str, str, bool, tuple[tuple[str | None, str | None, str], ...]], ...] = (
    ("Standard Lead Assignment", "Lead", True, (("LeadSource", "Web", "queue:Web_Leads"),
                                                ("LeadSource", "Partner Referral", "user:2"),
                                                (None, None, "queue:Lead_Inbox"))),
    ("Round Robin (retired)", "Lead", False, ((None, None, "user:3"),)),
    ("Case Triage", "Case", True, (("Priority", "High", "queue:Escalations"), (None, None, "queue:Support_Tier_1"))),
)


def ensure_routing(conn: sqlite3.Connection) -> None:
    """Seed the queues, their objects and the assignment rules once (idempotent)."""
    conn.execute(ENTRIES_DDL)
    if conn.execute('SELECT 1 FROM "Group" LIMIT 1').fetchone() is not None:
        return
    user = make_id("005", 1)
    system = {"IsDeleted": 0, "CreatedDate": STAMP, "CreatedById": user, "LastModifiedDate": STAMP,
              "LastModifiedById": user, "SystemModstamp": STAMP}
    queue_ids: dict[str, str] = {}
    sobject_rid = 0
    for rid, (name, developer, objects) in enumerate(QUEUES, start=1):
        queue_ids[developer] = make_id("00G", rid)
        _insert(conn, "Group", {"rid": rid, "Id": queue_ids[developer], "Name": name, "DeveloperName": developer,
                                "Type": "Queue", "Email": None, **system})
        for sobject in objects:
            sobject_rid += 1
            _insert(conn, "QueueSobject", {"rid": sobject_rid, "Id": make_id("03g", sobject_rid),
                                           "QueueId": queue_ids[developer], "SobjectType": sobject, **system})
    for rid, (name, sobject, active, entries) in enumerate(RULES, start=1):
        rule_id = make_id("01Q", rid)
        _insert(conn, "AssignmentRule", {"rid": rid, "Id": rule_id, "Name": name, "SobjectType": sobject,
                                         "Active": int(active), **system})
        for sort, (field, value, owner) in enumerate(entries, start=1):
            kind, _, key = owner.partition(":")
            owner_id = queue_ids[key] if kind == "queue" else make_id("005", int(key))
            conn.execute("INSERT INTO _assignment_entries (rule_id, sort, field, value, owner_id) VALUES (?,?,?,?,?)",
                         (rule_id, sort, field, value, owner_id))


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> None:
    cols = ", ".join(f'"{c}"' for c in values)
    conn.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join("?" for _ in values)})', list(values.values()))


def rule_for_header(conn: sqlite3.Connection, object_name: str, header: str | None) -> str | None:
    """The rule a REST `Sforce-Auto-Assign` header asks for (`TRUE`/absent: the active one; `FALSE`: none)."""
    text = (header or "TRUE").strip()
    if text.upper() == "FALSE":
        return None
    if text.upper() == "TRUE":
        row = conn.execute('SELECT Id FROM "AssignmentRule" WHERE SobjectType = ? AND Active = 1 AND IsDeleted = 0',
                           (object_name,)).fetchone()
        return row[0] if row else None
    return text


def assigned_owner(conn: sqlite3.Connection, object_name: str, rule_id: str, record: dict[str, Any]) -> str | None:
    """The owner the rule gives a new record (None: the rule is not for this object or nothing matches)."""
    rule = conn.execute('SELECT SobjectType FROM "AssignmentRule" WHERE Id = ? AND IsDeleted = 0',
                        (rule_id[:18],)).fetchone()
    if rule is None or rule[0] != object_name:
        return None
    for field, value, owner_id in conn.execute(
            "SELECT field, value, owner_id FROM _assignment_entries WHERE rule_id = ? ORDER BY sort", (rule_id[:18],)):
        if field is None or str(record.get(field) or "") == value:
            return str(owner_id)
    return None
