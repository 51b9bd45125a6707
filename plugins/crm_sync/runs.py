"""The sync log (`crm_sync.sync_runs`) and the watermarks: the sync's own bookkeeping.

A run is one object's pass through the steps, of one `RunKind`. Its `RunStatus` moves only
along `TRANSITIONS`:

    running ──extract──▶ extracted ──validate──▶ validated ──load──▶ loaded ──finalize──▶ succeeded | dry_run
    writeback:  running ──write──▶ written ──finalize──▶ succeeded | budget_stopped
    any unfinished status ──▶ failed | budget_stopped ──retry──▶ an unfinished status;  running ──▶ skipped

`update_run` refuses any other move, so a bug can never mark a run succeeded that did not
load, and the watermark (advanced in finalize) never covers data that was not committed.
A step that fails records the status the run had reached before it (`report.resume_at`):
`resume_point` tells a retry where to carry on (`publish` does not validate or load again
what already was).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from crm_sync.salesforce.budget import BudgetExhausted

if TYPE_CHECKING:
    from crm_sync.salesforce import SalesforceGateway

log = logging.getLogger(__name__)


class RunKind(StrEnum):
    """What a run does."""

    DIFFERENTIAL = "differential"  # the changed window of one object
    FULL = "full"  # everything of one object (Bulk API 2.0)
    RECORD = "record"  # listed Ids (record sync, write-back refresh)
    RECONCILE = "reconcile"  # the drift check
    REPAIR = "repair"  # what a reconciliation found, re-synced by Id
    WRITEBACK = "writeback"  # marketing → Salesforce


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    EXTRACTED = "extracted"
    VALIDATED = "validated"
    LOADED = "loaded"
    WRITTEN = "written"
    SUCCEEDED = "succeeded"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    FAILED = "failed"
    BUDGET_STOPPED = "budget_stopped"


S = RunStatus
_UNFINISHED = (S.RUNNING, S.EXTRACTED, S.VALIDATED, S.LOADED, S.WRITTEN)

#: Every allowed status change (a status may also stay what it is: a retried step).
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.RUNNING: frozenset({S.EXTRACTED, S.WRITTEN, S.SUCCEEDED, S.SKIPPED, S.FAILED, S.BUDGET_STOPPED}),
    S.EXTRACTED: frozenset({S.VALIDATED, S.RUNNING, S.FAILED, S.BUDGET_STOPPED}),
    S.VALIDATED: frozenset({S.LOADED, S.RUNNING, S.FAILED}),
    S.LOADED: frozenset({S.SUCCEEDED, S.DRY_RUN, S.RUNNING, S.FAILED}),
    S.WRITTEN: frozenset({S.SUCCEEDED, S.BUDGET_STOPPED, S.FAILED}),
    # A retried step redoes its work from where the failed attempt left the run.
    S.FAILED: frozenset(_UNFINISHED),
    S.BUDGET_STOPPED: frozenset(_UNFINISHED),
    S.SUCCEEDED: frozenset(),
    S.DRY_RUN: frozenset(),
    S.SKIPPED: frozenset(),
}

#: Kinds that move the object's watermark when they succeed (not dry runs).
WATERMARK_KINDS = frozenset({RunKind.DIFFERENTIAL, RunKind.FULL})

FROM_CRM = "from_crm"
TO_CRM = "to_crm"

COUNT_COLUMNS = ("extracted", "staged", "valid", "quarantined", "skipped", "created", "updated",
                 "archived", "unchanged", "api_calls", "failed", "retried")
_VALUE_COLUMNS = ("status", "error", "extract_method", "watermark_after", "finished_at")


class InvalidTransition(RuntimeError):
    """A status change that `TRANSITIONS` does not allow."""


@dataclass(frozen=True)
class SyncRun:
    """One row of the sync log."""

    run_id: int
    object: str
    kind: RunKind
    status: RunStatus
    dag_run_id: str | None
    window_start: datetime | None
    window_end: datetime | None
    extract_method: str | None
    extracted: int
    staged: int
    valid: int
    quarantined: int
    skipped: int
    skipped_reasons: dict[str, int]
    created: int
    updated: int
    archived: int
    unchanged: int
    api_calls: int
    failed: int
    retried: int
    durations: dict[str, float]
    watermark_before: datetime | None
    watermark_after: datetime | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    report: dict[str, Any]
    dry_run: bool

    @property
    def published(self) -> int:
        """Records that reached the marketing side: created + updated + archived + unchanged."""
        return self.created + self.updated + self.archived + self.unchanged

    @property
    def seconds(self) -> float:
        """The summed durations of the run's steps."""
        return sum(float(v) for v in self.durations.values())

    @property
    def moves_watermark(self) -> bool:
        """True when finalizing this run advances the object's watermark."""
        return self.kind in WATERMARK_KINDS and not self.dry_run

    def as_xcom(self) -> dict[str, Any]:
        """The compact, JSON-ready result a task returns (one XCom)."""
        return {"run_id": self.run_id, "object": self.object, "kind": self.kind.value,
                "status": self.status.value, "extracted": self.extracted, "created": self.created,
                "updated": self.updated, "archived": self.archived, "unchanged": self.unchanged,
                "quarantined": self.quarantined, "skipped": self.skipped, "failed": self.failed,
                "api_calls": self.api_calls}


_FIELDS = {f.name for f in fields(SyncRun)}


def start_run(conn: psycopg.Connection, *, object_name: str, kind: RunKind, dag_run_id: str | None,
              window_start: datetime | None = None, window_end: datetime | None = None,
              watermark_before: datetime | None = None, dry_run: bool = False,
              report: dict[str, Any] | None = None) -> int:
    """Insert a sync log row and return its run id (also the staging batch id)."""
    row = conn.execute(
        "INSERT INTO crm_sync.sync_runs (object, kind, dag_run_id, window_start, window_end,"
        " watermark_before, dry_run, report) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id",
        (object_name, RunKind(kind).value, dag_run_id, window_start, window_end, watermark_before, dry_run,
         json.dumps(report or {})),
    ).fetchone()
    assert row is not None
    return int(row[0])


def find_run(conn: psycopg.Connection, *, object_name: str, kind: RunKind, dag_run_id: str) -> int | None:
    """The unfinished run of this kind and object started by this DAG run (to resume it)."""
    row = conn.execute(
        "SELECT run_id FROM crm_sync.sync_runs WHERE object = %s AND kind = %s AND dag_run_id = %s"
        " AND status NOT IN ('succeeded', 'dry_run') ORDER BY run_id DESC LIMIT 1",
        (object_name, RunKind(kind).value, dag_run_id),
    ).fetchone()
    return int(row[0]) if row else None


def update_run(conn: psycopg.Connection, run_id: int, *, duration: tuple[str, float] | None = None,
               skipped_reasons: dict[str, int] | None = None, report: dict[str, Any] | None = None,
               **values: Any) -> None:
    """Set columns of a run; a step's duration and report entries are merged into what is there.

    Raises:
        InvalidTransition: when `status` is a move `TRANSITIONS` does not allow.
        ValueError: for an unknown column.
    """
    sets, params = [], []
    for column, value in values.items():
        if column not in COUNT_COLUMNS and column not in _VALUE_COLUMNS:
            raise ValueError(f"unknown sync_runs column {column}")
        if column == "status":
            value = RunStatus(value).value
            _check_transition(conn, run_id, RunStatus(value))
        sets.append(f"{column} = %s")
        params.append(value)
    if duration:
        sets.append("durations = durations || %s::jsonb")
        params.append(json.dumps({duration[0]: round(duration[1], 3)}))
    if report:
        sets.append("report = report || %s::jsonb")
        params.append(json.dumps(report, default=str))
    if skipped_reasons is not None:
        sets.append("skipped_reasons = %s::jsonb")
        params.append(json.dumps(skipped_reasons))
    if sets:
        conn.execute(f"UPDATE crm_sync.sync_runs SET {', '.join(sets)} WHERE run_id = %s", (*params, run_id))


def _check_transition(conn: psycopg.Connection, run_id: int, new: RunStatus) -> None:
    row = conn.execute("SELECT status FROM crm_sync.sync_runs WHERE run_id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"sync run {run_id} not found")
    current = RunStatus(row[0])
    if new is not current and new not in TRANSITIONS[current]:
        raise InvalidTransition(f"sync run {run_id}: {current.value} → {new.value} is not allowed")


def get_run(conn: psycopg.Connection, run_id: int) -> SyncRun:
    """One sync log row."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM crm_sync.sync_runs WHERE run_id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"sync run {run_id} not found")
    values = {k: v for k, v in row.items() if k in _FIELDS}
    values["kind"], values["status"] = RunKind(values["kind"]), RunStatus(values["status"])
    return SyncRun(**values)


def resume_point(run: SyncRun) -> RunStatus:
    """Where the run's steps got to: its status, or for a stopped run the status it had reached.

    A step that failed (or stopped at the API budget) left the status it began with in
    `report.resume_at`; a stopped run without one (marked failed by a later run, its worker
    gone) resumes as `failed`, i.e. from the start of its publication.
    """
    if run.status in (RunStatus.FAILED, RunStatus.BUDGET_STOPPED) and "resume_at" in run.report:
        return RunStatus(run.report["resume_at"])
    return run.status


def get_watermark(conn: psycopg.Connection, object_name: str, direction: str = FROM_CRM) -> datetime | None:
    """The object's watermark, or None before its first successful run."""
    row = conn.execute(
        "SELECT watermark FROM crm_sync.watermarks WHERE object = %s AND direction = %s",
        (object_name, direction),
    ).fetchone()
    return row[0] if row else None


def set_watermark(conn: psycopg.Connection, object_name: str, value: datetime, run_id: int,
                  direction: str = FROM_CRM) -> None:
    """Advance (never move back) the object's watermark."""
    conn.execute(
        "INSERT INTO crm_sync.watermarks (object, direction, watermark, run_id) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (object, direction) DO UPDATE SET watermark = EXCLUDED.watermark,"
        " run_id = EXCLUDED.run_id, updated_at = now()"
        " WHERE crm_sync.watermarks.watermark < EXCLUDED.watermark",
        (object_name, direction, value, run_id),
    )


def log_skipped_run(conn: psycopg.Connection, *, object_name: str, kind: RunKind, dag_run_id: str | None,
                    reason: str) -> int:
    """Record a run that did not sync (e.g. a full sync held the lock), with the reason."""
    run_id = start_run(conn, object_name=object_name, kind=kind, dag_run_id=dag_run_id)
    conn.execute("UPDATE crm_sync.sync_runs SET status = 'skipped', error = %s, finished_at = now()"
                 " WHERE run_id = %s", (reason, run_id))
    return run_id


@contextmanager
def step(conn: psycopg.Connection, run_id: int, name: str, *,
         gateway: SalesforceGateway | None = None) -> Iterator[None]:
    """Time one step of a run and record how it ended.

    On success the step's duration is recorded and committed. On failure the transaction is
    rolled back and the run is marked `failed` (or `budget_stopped` when the API budget
    stopped it) with the error, then the exception propagates. Either way, the API calls the
    step made through `gateway` are added to the run's count.
    """
    started = time.monotonic()
    calls_before = gateway.api_calls if gateway else 0
    # A run stopped before keeps the point it had reached (a retry that failed again).
    reached = conn.execute("SELECT CASE WHEN status IN ('failed', 'budget_stopped')"
                           " THEN COALESCE(report ->> 'resume_at', status) ELSE status END"
                           " FROM crm_sync.sync_runs WHERE run_id = %s", (run_id,)).fetchone()
    try:
        yield
    except Exception as exc:
        conn.rollback()
        status = RunStatus.BUDGET_STOPPED if isinstance(exc, BudgetExhausted) else RunStatus.FAILED
        update_run(conn, run_id, status=status, error=f"{name}: {exc}"[:4000], finished_at=datetime.now(UTC),
                   duration=(name, time.monotonic() - started),
                   report={"resume_at": reached[0]} if reached else None)
        _add_calls(conn, run_id, gateway, calls_before)
        conn.commit()
        raise
    update_run(conn, run_id, duration=(name, time.monotonic() - started))
    _add_calls(conn, run_id, gateway, calls_before)
    conn.commit()


def _add_calls(conn: psycopg.Connection, run_id: int, gateway: SalesforceGateway | None, before: int) -> None:
    """Add the step's API calls to the run, and keep the org's daily usage Salesforce last reported."""
    if gateway is None:
        return
    if gateway.api_calls > before:
        conn.execute("UPDATE crm_sync.sync_runs SET api_calls = api_calls + %s WHERE run_id = %s",
                     (gateway.api_calls - before, run_id))
    used, maximum = gateway.usage
    if used is not None and maximum is not None:
        update_run(conn, run_id, report={"api_usage": {"used": used, "max": maximum}})
