"""Turn pending marketing changes into Salesforce record writes (pure: no I/O).

A *change* is one marketing row with pending edits (from `crm_outbox`). It is linked to
zero or more Salesforce records (a person to its Contact and its Lead; any other row to its
`sf_id`), and each linked record becomes one *record task*: the fields to write, the
Salesforce-owned values to restore, how conflicts resolved, and later its outcome. A row
with no record becomes a create task when its mapping allows creating records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import Direction, FieldMap, ObjectMapping
from crm_sync.writeback.rules import (
    COMPANY_NOT_PROVIDED,
    MISSING,
    RESTORE,
    WRITE,
    UnmappableValue,
    canonical,
    decide,
    derived_last_name,
    encode,
    from_salesforce,
    needs_salesforce_value,
    parse_timestamp,
)

#: The people columns that link a person to its Salesforce records, by object.
PEOPLE_LINKS = {"contact": "contact_sf_id", "lead": "lead_sf_id"}


@dataclass(slots=True)
class Change:
    """One marketing row with pending edits."""

    table: str
    row_id: int
    seq: int
    fields: frozenset[str]
    base: dict[str, Any]
    is_new: bool
    changed_at: dict[str, datetime]
    row: dict[str, Any]

    @classmethod
    def from_outbox(cls, table: str, record: dict[str, Any]) -> Change:
        """Build from one row of `outbox_chunk.sql` (outbox columns prefixed `wb_`).

        The record becomes the change's row: its `wb_` columns are taken out of it.
        """
        changed_at = record.pop("wb_changed_at") or {}
        return cls(table=table, row_id=int(record.pop("wb_row_id")), seq=int(record.pop("wb_seq")),
                   fields=frozenset(record.pop("wb_fields") or ()), base=dict(record.pop("wb_base") or {}),
                   is_new=bool(record.pop("wb_is_new")),
                   changed_at={k: parse_timestamp(v) for k, v in changed_at.items()},
                   row=record)

    def forget_values(self) -> None:
        """Drop the row's values once its record tasks are planned (the tasks keep what they write).

        A chunk whose jobs are running then holds its tasks, not its rows.
        """
        self.row, self.base, self.changed_at = {}, {}, {}


@dataclass(slots=True)
class RecordTask:
    """One Salesforce record a change writes (or decided not to), and what became of it."""

    change: Change
    object: str
    sf_id: str | None
    operation: str  # update | insert | upsert | none
    key: str = ""  # how the job's results find this task: the Id, email or external id
    values: dict[str, str] = field(default_factory=dict)  # Salesforce field -> CSV cell
    restored: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    outcome: str | None = None  # created | updated | unchanged | skipped | failed | deferred
    reason: str | None = None
    error: str | None = None
    attempts: int = 0
    job_ids: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """True when the change needs nothing more from this record (not deferred)."""
        return self.outcome not in (None, "deferred")


def record_links(change: Change, mapping: ObjectMapping) -> str | None:
    """The Salesforce Id a marketing row links to for this mapping's object (or None)."""
    if mapping.is_people:
        return change.row.get(PEOPLE_LINKS.get(mapping.object.lower(), "")) or None
    return change.row.get("sf_id") or None


def needs_read(change: Change, mapping: ObjectMapping) -> list[FieldMap]:
    """Changed fields whose decision needs Salesforce's current value."""
    return [f for f in mapping.fields if f.target in change.fields and needs_salesforce_value(f)]


def plan_update(change: Change, mapping: ObjectMapping, sf_id: str, value_maps: dict[str, ValueMap], *,
                salesforce: dict[str, Any] | None = None, updateable: set[str] | None = None) -> RecordTask:
    """Decide every changed field of a linked record.

    Args:
        change: The pending change.
        mapping: The mapping of the record's object.
        sf_id: The record's Id.
        value_maps: Value maps by name.
        salesforce: The record as Salesforce has it now (REST JSON), when it was read.
        updateable: Field names Salesforce lets us update (lower case); None: all.
    """
    task = RecordTask(change=change, object=mapping.object, sf_id=sf_id, operation="update", key=sf_id)
    modstamp = parse_timestamp(salesforce["SystemModstamp"]) if salesforce else None
    for fm in mapping.fields:
        if fm.target not in change.fields:
            continue
        current = canonical(change.row.get(fm.target), fm)
        base = canonical(change.base[fm.target], fm) if fm.target in change.base else MISSING
        sf_value = from_salesforce(salesforce.get(fm.source), fm, value_maps) if salesforce else MISSING
        decision = decide(fm, current=current, base=base, salesforce=sf_value, salesforce_modstamp=modstamp,
                          changed_at=change.changed_at.get(fm.target))
        if decision.conflict:
            task.conflicts[fm.target] = decision.conflict
        if decision.action == RESTORE:
            task.restored.append(fm.target)
        elif decision.action == WRITE:
            if updateable is not None and fm.source.lower() not in updateable:
                task.notes.append(f"{fm.source} cannot be written in Salesforce (not in the org, or not updateable)")
                continue
            try:
                task.values[fm.source] = encode(change.row.get(fm.target), fm, value_maps)
            except UnmappableValue as exc:
                task.notes.append(str(exc))
    if not task.values:
        task.operation = "none"
        task.outcome, task.reason = ("skipped", "restored_from_salesforce") if task.restored else ("unchanged", None)
    return task


def _create_value(fm: FieldMap, value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    # An opt-out flag that is false is Salesforce's default: nothing to say.
    return not (fm.is_sticky and value is False)


def plan_create(change: Change, mapping: ObjectMapping, value_maps: dict[str, ValueMap], *,
                createable: set[str] | None = None) -> RecordTask:
    """A new Salesforce record from a marketing row (every mapped value it has).

    People become Leads (inserted, keyed by email: the look-up by email before it keeps a
    retry from duplicating); other rows are upserted by the mapping's external id.
    """
    people = mapping.is_people
    task = RecordTask(change=change, object=mapping.object, sf_id=None,
                      operation="insert" if people and not mapping.writeback.external_id else "upsert")
    # A source mapped to several columns (a code and its meaning) is sent once: from its
    # written (to_crm/both) column when it has one, else from the first column with a value.
    for fm in sorted(mapping.fields, key=lambda f: f.direction is Direction.FROM_CRM):
        value = change.row.get(fm.target)
        if fm.source in task.values or not _create_value(fm, value):
            continue
        if createable is not None and fm.source.lower() not in createable:
            continue
        try:
            task.values[fm.source] = encode(value, fm, value_maps)
        except UnmappableValue as exc:
            task.notes.append(str(exc))
    if people:
        email = str(change.row["email"])
        task.values["LastName"] = task.values.get("LastName") or derived_last_name(
            change.row.get("last_name"), email)
        if mapping.object.lower() == "lead":
            task.values["Company"] = task.values.get("Company") or COMPANY_NOT_PROVIDED
        task.key = task.values.setdefault(mapping.match_field.source, email)
    if task.operation == "upsert":
        external = mapping.writeback.external_id or "Id"
        key = next((v for k, v in task.values.items() if k.lower() == external.lower()), None)
        if key is None:
            task.operation, task.outcome, task.reason = "none", "skipped", "no_external_id"
            task.values = {}
        else:
            task.key = key
    return task


def skipped(change: Change, object_name: str, reason: str, sf_id: str | None = None) -> RecordTask:
    """A record task decided without a write."""
    return RecordTask(change=change, object=object_name, sf_id=sf_id, operation="none", outcome="skipped",
                      reason=reason)
