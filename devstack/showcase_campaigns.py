"""Demo step: a campaign with members flowing both ways.

A member added in Salesforce reaches the marketing list with the next differential; a member
the marketing side adds, and later marks as responded, becomes a CampaignMember with the
next `crm_writeback`. Assumes the demo's steps 1–7 ran (the demo org synced).
"""

from __future__ import annotations

import importlib
import os
import time

from devstack.demo import run_dag
from devstack.report import print_table
from emulator.admin import AdminClient

_PICK = ("SELECT (SELECT sf_id FROM campaigns WHERE archived_at IS NULL ORDER BY sf_id LIMIT 1),"
         " array(SELECT p.id::text || ':' || p.contact_sf_id FROM people p WHERE p.contact_sf_id IS NOT NULL"
         "  AND p.archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.person_id = p.id)"
         "  ORDER BY p.id LIMIT 2)")
_MEMBERS = ("SELECT m.sf_id, p.email, m.status, m.has_responded FROM campaign_members m JOIN people p"
            " ON p.id = m.person_id WHERE m.campaign_sf_id = %s AND m.person_id = ANY(%s) ORDER BY m.id")


def show(admin: AdminClient) -> None:
    """Add a member on each side, run the differential and the write-back, print both sides."""
    import crm_differential
    import crm_writeback

    from crm_sync.db import connect
    from crm_sync.settings import load_settings

    print("\n== Campaigns both ways: members added in Salesforce and in marketing", flush=True)
    marketing = load_settings().marketing_conn_id
    with connect(marketing) as mk:
        row = mk.execute(_PICK).fetchone()
    assert row is not None
    campaign, picked = row
    (sf_person, sf_contact), (mk_person, _) = (p.split(":") for p in picked)
    member_id = admin.insert("CampaignMember", {"CampaignId": campaign, "ContactId": sf_contact, "Status": "Sent"})
    print(f"   Salesforce: Contact {sf_contact} added to campaign {campaign} (member {member_id})")
    time.sleep(int(os.environ.get("CRM_SYNC_SAFETY_LAG_SECONDS", "0")) + 1)
    run_dag(importlib.reload(crm_differential).crm_differential_campaignmember)
    with connect(marketing) as mk:
        mk.execute("INSERT INTO campaign_members (campaign_sf_id, person_id, status) VALUES (%s, %s, 'Sent')",
                   (campaign, int(mk_person)))
    print(f"   marketing: person {mk_person} added to the campaign's list")
    run_dag(importlib.reload(crm_writeback).crm_writeback)
    with connect(marketing) as mk:
        mk.execute("UPDATE campaign_members SET status = 'Responded' WHERE campaign_sf_id = %s AND person_id = %s",
                   (campaign, int(mk_person)))
    print("   marketing: that person responded")
    run_dag(importlib.reload(crm_writeback).crm_writeback)
    with connect(marketing) as mk:
        rows = mk.execute(_MEMBERS, (campaign, [int(sf_person), int(mk_person)])).fetchall()
    print_table("Campaign members in marketing", [
        {"member": r[0], "email": r[1], "status": r[2], "responded": r[3]} for r in rows])
    print_table("The same members in Salesforce", [
        {"member": r[0], "contact": (rec := admin.get("CampaignMember", r[0]))["ContactId"],
         "status": rec["Status"], "responded": rec["HasResponded"]} for r in rows])
