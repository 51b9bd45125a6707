"""The write-back's scope: only the people of a marketing segment reach Salesforce.

A people mapping with `writeback: {scope: <segment>}` creates and updates Salesforce
records only for the people in that segment (`crm_segment_members`, marketing migration
0008, kept by the marketing app). A change of a person outside it leaves the queue as a
record task `skipped`, reason `out_of_scope`: counted in the run's skipped reasons, listed in
`crm_sync.writeback_results`, logged, never sent. A person who enters the segment is queued
by the next write-back with the values the scoped mappings write (`queue_entered`), so what
changed while they were outside reaches Salesforce then, once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg

from crm_sync.mapping.model import ObjectMapping
from crm_sync.sqlfiles import read_sql
from crm_sync.writeback.plan import Change

log = logging.getLogger(__name__)

#: The reason of a record task whose person is outside its mapping's write-back scope.
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Scope:
    """Which objects each change's person may not be written to (row id -> objects)."""

    blocked: dict[int, frozenset[str]] = field(default_factory=dict)

    def blocks(self, change: Change, mapping: ObjectMapping) -> bool:
        """True when the change's person is outside the mapping's scope."""
        return mapping.object in self.blocked.get(change.row_id, frozenset())


def _scopes(mappings: Iterable[ObjectMapping]) -> dict[str, str]:
    return {m.object: m.writeback.scope for m in mappings if m.is_people and m.writeback.scope}


def read_scope(conn: psycopg.Connection, mappings: list[ObjectMapping], changes: list[Change]) -> Scope:
    """The scope of one chunk of changes: one query, only when a mapping of the table has a scope."""
    scopes = _scopes(mappings)
    if not scopes or not changes:
        return Scope()
    members: dict[int, set[str]] = defaultdict(set)
    with conn.transaction():
        for person_id, segment in conn.execute(read_sql("writeback/scope_members.sql"), {
                "ids": [c.row_id for c in changes], "segments": sorted(set(scopes.values()))}):
            members[int(person_id)].add(str(segment))
    blocked = {c.row_id: frozenset(o for o, segment in scopes.items() if segment not in members[c.row_id])
               for c in changes}
    outside = sum(1 for objects in blocked.values() if objects)
    if outside:
        log.info("people: %d of %d change(s) belong to people outside a write-back scope (%s): not written,"
                 " reason %s", outside, len(changes),
                 ", ".join(f"{o}: {s}" for o, s in sorted(scopes.items())), OUT_OF_SCOPE)
    return Scope({row_id: objects for row_id, objects in blocked.items() if objects})


def queue_entered(conn: psycopg.Connection, mappings: Iterable[ObjectMapping]) -> int:
    """Queue the people who entered a scope's segment since the last write-back; returns how many.

    Run in the caller's transaction, before the run takes its snapshot of the queue.
    """
    scoped = [m for m in mappings if m.is_people and m.writeback.scope]
    if not scoped:
        return 0
    fields = sorted({f.target for m in scoped for f in m.written_fields})
    queued = conn.execute(read_sql("writeback/scope_entered.sql"), {
        "segments": sorted({str(m.writeback.scope) for m in scoped}), "fields": fields}).rowcount
    if queued:
        log.info("people: %d person(s) entered a write-back scope: queued for Salesforce", queued)
    return queued
