"""The write-back's records in the warehouse: per-record results, refresh requests, counts.

`crm_sync.writeback_results` keeps one row per Salesforce record a run considered (what it
wrote, or why not, with Salesforce's error); `crm_sync.sync_runs` sums them per object:
`extracted = created + updated + unchanged + skipped + failed`, skipped with reasons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from crm_sync import runs
from crm_sync.writeback.plan import RecordTask

_COPY_RESULTS = (
    "COPY crm_sync.writeback_results (run_id, object, sf_id, marketing_table, marketing_id, operation, outcome,"
    " reason, error, written, restored, conflicts, attempts, job_ids) FROM STDIN"
)
# The columns' types, told to COPY: it then dumps each value without looking at its Python type.
_RESULT_TYPES = ["int8", "text", "text", "text", "int8", "text", "text", "text", "text", "text[]", "text[]", "jsonb",
                 "int4", "text[]"]
_REQUEST_REFRESH = (
    "INSERT INTO crm_sync.writeback_refresh (object, sf_id, reason, run_id) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (object, sf_id) DO UPDATE SET reason = EXCLUDED.reason, run_id = EXCLUDED.run_id,"
    " requested_at = now()"
)


@dataclass
class Tally:
    """Counts of one object's records in one write-back run."""

    extracted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    retried: int = 0
    api_calls: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, task: RecordTask) -> None:
        """Count one settled (or deferred) record task."""
        self.extracted += 1
        if task.attempts > 1:
            self.retried += 1
        if task.outcome in ("created", "updated", "unchanged", "failed"):
            setattr(self, task.outcome, getattr(self, task.outcome) + 1)
        elif task.outcome == "deferred":
            self.skipped[f"deferred_{task.reason or 'unknown'}"] += 1
        else:
            self.skipped[task.reason or "unknown"] += 1

    def columns(self) -> dict[str, Any]:
        """The sync log columns `runs.update_run` takes."""
        return {"extracted": self.extracted, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "skipped": sum(self.skipped.values()), "api_calls": self.api_calls}


def record_results(conn: psycopg.Connection, run_id: int, tasks: list[RecordTask]) -> None:
    """Insert one result row per record task (COPY: a chunk has thousands)."""
    with conn.cursor() as cur, cur.copy(_COPY_RESULTS) as copy:
        copy.set_types(_RESULT_TYPES)
        for t in tasks:
            copy.write_row((run_id, t.object, t.sf_id, t.change.table, t.change.row_id, t.operation,
                            t.outcome or "deferred", t.reason, "; ".join(filter(None, [t.error, *t.notes])) or None,
                            sorted(t.values), t.restored, t.conflicts, t.attempts, t.job_ids))


def request_refresh(conn: psycopg.Connection, run_id: int, requests: list[tuple[str, str, str]]) -> None:
    """Queue (object, sf_id, reason) records to be read again into the marketing database."""
    with conn.cursor() as cur:
        cur.executemany(_REQUEST_REFRESH, [(obj, sf_id, reason, run_id) for obj, sf_id, reason in requests])


def save_tally(conn: psycopg.Connection, run_id: int, tally: Tally, **values: Any) -> None:
    """Write an object's counts into its sync log row (with any other columns given)."""
    runs.update_run(conn, run_id, skipped_reasons=dict(sorted(tally.skipped.items())), **tally.columns(),
                    **values)
    conn.execute("UPDATE crm_sync.sync_runs SET failed = %s, retried = %s WHERE run_id = %s",
                 (tally.failed, tally.retried, run_id))
