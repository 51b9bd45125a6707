"""Showcase: routing reference data, owners of new Leads, and codes beside their meanings.

Publishes the queues and assignment rules, creates three marketing people, lets `crm_writeback`
create their Leads under Salesforce's active assignment rule (lead.yaml: `owner:
{assignment_rule: default}`), prints who owns each, and shows `Status__c` as code and meaning.
"""

from __future__ import annotations

import time

from crm_sync.context import RunContext
from crm_sync.db import connect
from crm_sync.reference_data import refresh_reference_data
from crm_sync.settings import load_settings
from devstack.demo import run_dag
from devstack.report import print_table
from emulator.admin import AdminClient


def show(admin: AdminClient) -> None:
    """Publish queues and rules, create Leads owned by rule, and show codes beside meanings."""
    import crm_writeback

    print("\n== Queues, assignment rules and owners of new Leads; codes and meanings", flush=True)
    refresh_reference_data(RunContext.load(), [])
    stamp = int(time.time())
    sources = {f"web.{stamp}@example.org": "Web", f"partner.{stamp}@example.org": "Partner Referral",
               f"form.{stamp}@example.org": None}
    with connect(load_settings().marketing_conn_id) as mk:
        queues = mk.execute("SELECT name, array_to_string(sobject_types, ', '), is_active FROM crm_queues"
                            " ORDER BY name").fetchall()
        rules = mk.execute("SELECT name, sobject_type, is_active FROM crm_assignment_rules ORDER BY name").fetchall()
        for email, source in sources.items():
            mk.execute("INSERT INTO people (email, last_name, company, lead_source) VALUES (%s, 'Showcase',"
                       " 'Showcase Ltd', %s)", (email, source))
        mk.commit()
    print_table("Queues (crm_queues)", [{"queue": n, "takes": t, "active": a} for n, t, a in queues])
    print_table("Assignment rules (crm_assignment_rules)", [{"rule": n, "object": o, "active": a}
                                                            for n, o, a in rules])
    run_dag(crm_writeback.crm_writeback)
    with connect(load_settings().marketing_conn_id) as mk:
        names = dict(mk.execute("SELECT sf_id, 'queue ' || name FROM crm_queues UNION ALL"
                                " SELECT sf_id, 'user ' || username FROM crm_users").fetchall())
        links = dict(mk.execute("SELECT email, lead_sf_id FROM people WHERE email = ANY(%s)",
                                (list(sources),)).fetchall())
        coded = mk.execute("SELECT email, status_code, status FROM people WHERE status_code IS NOT NULL"
                           " AND archived_at IS NULL ORDER BY status_code, email LIMIT 5").fetchall()
    owners = []
    for email, source in sources.items():
        owner = admin.get("Lead", links[email])["OwnerId"] if links.get(email) else None
        owners.append({"new person": email, "LeadSource": source or "-", "Lead": links.get(email) or "not created",
                       "owner (by rule)": names.get(owner, owner or "-")})
    print_table("New Leads and their owners (Standard Lead Assignment)", owners)
    print_table("Status__c: code and meaning side by side (people)",
                [{"email": e, "status_code": c, "status": s} for e, c, s in coded])
