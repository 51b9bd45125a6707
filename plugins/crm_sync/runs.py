"""The sync's own bookkeeping in the warehouse: runs (the sync log), watermarks, locks."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

FROM_CRM = "from_crm"
FULL_SYNC_LOCK = "full_sync"

COUNT_COLUMNS = ("extracted", "staged", "valid", "quarantined", "skipped", "created", "updated",
                 "archived", "unchanged", "api_calls")


def start_run(conn: psycopg.Connection, *, object_name: str, kind: str, dag_run_id: str | None,
              window_start: datetime | None, window_end: datetime | None,
              watermark_before: datetime | None, dry_run: bool = False,
              report: dict[str, Any] | None = None) -> int:
    """Insert a sync log row and return its run id (also the staging batch id)."""
    row = conn.execute(
        "INSERT INTO crm_sync.sync_runs (object, kind, dag_run_id, window_start, window_end,"
        " watermark_before, dry_run, report) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id",
        (object_name, kind, dag_run_id, window_start, window_end, watermark_before, dry_run,
         json.dumps(report or {})),
    ).fetchone()
    assert row is not None
    return int(row[0])


def find_run(conn: psycopg.Connection, *, object_name: str, kind: str, dag_run_id: str) -> int | None:
    """The unfinished run of this kind and object started by this DAG run (to resume it)."""
    row = conn.execute(
        "SELECT run_id FROM crm_sync.sync_runs WHERE object = %s AND kind = %s AND dag_run_id = %s"
        " AND status NOT IN ('succeeded', 'dry_run') ORDER BY run_id DESC LIMIT 1",
        (object_name, kind, dag_run_id),
    ).fetchone()
    return int(row[0]) if row else None


def update_run(conn: psycopg.Connection, run_id: int, *, duration: tuple[str, float] | None = None,
               skipped_reasons: dict[str, int] | None = None, report: dict[str, Any] | None = None,
               **values: Any) -> None:
    """Set columns of a run; counts given as keyword arguments; a step's duration and report
    entries are merged into what is there."""
    sets, params = [], []
    for column, value in values.items():
        if column not in COUNT_COLUMNS and column not in ("status", "error", "extract_method",
                                                          "watermark_after", "finished_at"):
            raise ValueError(f"unknown sync_runs column {column}")
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


def get_run(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    """One sync log row as a dict."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM crm_sync.sync_runs WHERE run_id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"sync run {run_id} not found")
    return row


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


def lock_holder(conn: psycopg.Connection, name: str) -> str | None:
    """Who holds the named lock, or None."""
    row = conn.execute("SELECT holder FROM crm_sync.locks WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None
