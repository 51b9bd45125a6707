"""`to_crm` fields the org does not have yet: said clearly, and no reason to fail a run.

A `to_crm` field is never read from Salesforce, so the inbound sync leaves it out of its
query and runs on; the write-back leaves it out of what it writes and writes the rest. Both
record the fields in the run's sync log report (`missing_to_crm_fields`) and log a warning
naming the fields and the set-up command that creates them through the Tooling API
(`python -m crm_sync.setup_fields`, docs/mappings.md). Any other mapped field that is
missing still fails the run (its value would be lost).
"""

from __future__ import annotations

import logging

import psycopg

from crm_sync import runs
from crm_sync.mapping.model import Direction, ObjectMapping

log = logging.getLogger(__name__)

SETUP_COMMAND = "python -m crm_sync.setup_fields"


def to_crm_only(mapping: ObjectMapping, missing: list[str]) -> bool:
    """True when every missing field is a `to_crm` field of the mapping (the run can go on)."""
    to_crm = {f.source.lower() for f in mapping.fields if f.direction is Direction.TO_CRM}
    return bool(missing) and all(name.lower() in to_crm for name in missing)


def message(mapping: ObjectMapping, missing: list[str]) -> str:
    """What to tell people: the fields, the mapping file, and the command that creates them."""
    return (f"{mapping.file_name}: to_crm field(s) {', '.join(sorted(missing))} do not exist on "
            f"{mapping.object} in Salesforce; they are not written until they exist. Create them with "
            f"`{SETUP_COMMAND}`")


def report_missing(wh: psycopg.Connection, run_id: int, mapping: ObjectMapping, missing: list[str]) -> None:
    """Log the missing fields and record them in the run's report (the caller commits)."""
    text = message(mapping, missing)
    log.warning("%s", text)
    runs.update_run(wh, run_id, report={"missing_to_crm_fields": {"fields": sorted(missing), "fix": text}})
