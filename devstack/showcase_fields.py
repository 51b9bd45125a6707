"""Showcase: fields sales sees. The set-up command creates the touch fields through the Tooling
API; a hard bounce and touch values recorded in marketing reach the Contact in Salesforce with
`crm_writeback`; a marketing edit of a locked (Salesforce-owned) field is refused."""

from __future__ import annotations

from typing import Any

import psycopg

from crm_sync.context import RunContext
from crm_sync.db import connect
from crm_sync.settings import load_settings
from crm_sync.setup_fields import setup_fields
from devstack.demo import run_dag
from devstack.report import print_table
from emulator.admin import AdminClient

SHOWN = ("EmailBouncedDate", "EmailBouncedReason", "First_Touch_Channel__c", "Last_Touch_Source__c",
         "Last_Activity_At__c")


def _contact(admin: AdminClient, sf_id: str, when: str) -> dict[str, Any]:
    record = admin.get("Contact", sf_id)
    return {"when": when, **{name: record.get(name) or "-" for name in SHOWN}}


def show(admin: AdminClient) -> None:
    """Set up the touch fields, record a bounce in marketing, write it back, and try a locked edit."""
    import crm_writeback

    print("\n== Fields sales sees: set-up command, hard bounce, locked fields", flush=True)
    outcome = setup_fields(RunContext.load())
    print_table("Set-up command (python -m crm_sync.setup_fields, Tooling API)", [
        {"missing fields": len(outcome["missing"]), "created": len(outcome["created"]),
         "values queued": outcome["queued"]}])
    with connect(load_settings().marketing_conn_id) as mk:
        person_id, contact_id = mk.execute(
            "SELECT id, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND archived_at IS NULL"
            " AND hard_bounced_at IS NULL ORDER BY id LIMIT 1").fetchone()
        before = _contact(admin, contact_id, "before")
        mk.execute("UPDATE people SET hard_bounced_at = now(), bounce_reason = '550 5.1.1 mailbox unavailable',"
                   " first_touch_channel = 'email', first_touch_source = 'spring newsletter',"
                   " last_touch_channel = 'web', last_touch_source = 'pricing page', last_activity_at = now()"
                   " WHERE id = %s", (person_id,))
        mk.commit()
        try:
            mk.execute("UPDATE people SET title = 'Edited in marketing' WHERE id = %s", (person_id,))
            mk.commit()
            refused = "accepted (CRM_LOCKED_FIELDS is not reject)"
        except psycopg.errors.InsufficientPrivilege as exc:
            mk.rollback()
            refused = f"refused: {exc.diag.message_primary}"
    run_dag(crm_writeback.crm_writeback)
    print_table(f"Contact {contact_id} in Salesforce", [before, _contact(admin, contact_id, "after crm_writeback")])
    print_table("A marketing edit of a locked field", [{"edit": "UPDATE people SET title = …", "result": refused}])
