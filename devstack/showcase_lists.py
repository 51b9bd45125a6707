"""Showcase: the write-back scope (only the people of a marketing segment reach Salesforce).

The demo org's mappings have no scope, and a campaign-membership filter would archive most of
the demo's people, so this runs the write-back once on a temporary copy of the mappings whose
Contact mapping says `writeback: {scope: showcase_vip}`: of two people whose score changed,
only the one in the segment is written; then the other enters the segment and is written too.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path

from emulator.admin import AdminClient

SEGMENT = "showcase_vip"


def _writeback() -> None:
    import crm_writeback

    from devstack.demo import run_dag

    run_dag(importlib.reload(crm_writeback).crm_writeback)


def _scoped_mappings(tmp: str) -> Path:
    from crm_sync.paths import INCLUDE_DIR

    mappings = Path(tmp) / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    contact = mappings / "contact.yaml"
    contact.write_text(contact.read_text().replace("\nfields:", f"\nwriteback: {{scope: {SEGMENT}}}\nfields:", 1))
    return mappings


def show(admin: AdminClient) -> None:
    """Score two people, one in the segment; write back; let the other enter; write back; report."""
    from crm_sync.db import connect
    from crm_sync.settings import load_settings
    from devstack.report import print_table

    print("\n== Write-back scope: only the segment's people reach Salesforce", flush=True)
    _writeback()  # the demo's own queue first, with the demo's mappings: nothing of it is scoped out
    rows = []
    with connect(load_settings().marketing_conn_id, autocommit=True) as mk, tempfile.TemporaryDirectory() as tmp:
        people = mk.execute("SELECT id, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                            " AND lead_sf_id IS NULL AND archived_at IS NULL ORDER BY id LIMIT 2").fetchall()
        mk.execute("DELETE FROM crm_segment_members WHERE segment = %s", (SEGMENT,))
        mk.execute("UPDATE people SET lead_score = COALESCE(lead_score, 0) + 7 WHERE id = ANY(%s)",
                   ([p[0] for p in people],))
        previous = os.environ.get("CRM_SYNC_MAPPINGS_DIR")
        os.environ["CRM_SYNC_MAPPINGS_DIR"] = str(_scoped_mappings(tmp))
        try:
            for step, (entering, _) in zip(("one person in the segment", "the other entered it"), people, strict=True):
                mk.execute("INSERT INTO crm_segment_members (segment, person_id) VALUES (%s, %s)", (SEGMENT, entering))
                _writeback()
                for person_id, sf_id in people:
                    [(score, member)] = mk.execute(
                        "SELECT lead_score, EXISTS (SELECT 1 FROM crm_segment_members m WHERE m.segment = %s"
                        " AND m.person_id = p.id) FROM people p WHERE id = %s", (SEGMENT, person_id)).fetchall()
                    rows.append({"step": step, "person": person_id, "in segment": member, "marketing score": score,
                                 "Salesforce score": admin.get("Contact", sf_id).get("Lead_Score__c")})
        finally:
            os.environ.pop("CRM_SYNC_MAPPINGS_DIR")
            if previous is not None:
                os.environ["CRM_SYNC_MAPPINGS_DIR"] = previous
    print_table("Write-back scope (a change outside the segment leaves the queue as out_of_scope)", rows)
