"""The sync report: sync log rows and marketing totals as plain-text tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from crm_sync.db import connect
from crm_sync.settings import load_settings

RUN_COLUMNS = ("object", "status", "method", "extracted", "created", "updated", "archived", "unchanged",
               "quarantined", "skipped", "api_calls", "seconds")


def sync_runs_since(since: datetime) -> list[dict[str, Any]]:
    """Sync log rows started at or after `since`, oldest first."""
    with connect(load_settings().warehouse_conn_id) as wh, wh.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM crm_sync.sync_runs WHERE started_at >= %s ORDER BY run_id",
                           (since,)).fetchall()


def marketing_totals() -> list[dict[str, Any]]:
    """Row counts of the marketing tables: active and archived."""
    rows = []
    with connect(load_settings().marketing_conn_id) as mk:
        for table in ("people", "accounts", "opportunities", "campaigns"):
            active, archived = mk.execute(
                f"SELECT count(*) FILTER (WHERE archived_at IS NULL), count(*) FILTER (WHERE archived_at IS NOT NULL)"
                f" FROM {table}").fetchone()
            rows.append({"table": table, "active": active, "archived": archived})
    return rows


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    seconds = sum(float(v) for v in (run.get("durations") or {}).values())
    return {"object": run["object"], "status": run["status"], "method": run["extract_method"] or "-",
            **{k: run[k] for k in RUN_COLUMNS[3:-1]}, "seconds": f"{seconds:.1f}"}


def print_table(title: str, rows: list[dict[str, Any]], *, changes: dict[str, str] | None = None) -> None:
    """Print rows (sync log rows are recognised and shaped) as an aligned table."""
    shaped = [_run_row(r) if "run_id" in r else dict(r) for r in rows]
    if changes is not None:
        for row in shaped:
            row["emulator changed"] = changes.get(row["object"], "nothing")
    if not shaped:
        print(f"\n{title}: nothing")
        return
    headers = list(shaped[0])
    widths = [max(len(h), *(len(str(r[h])) for r in shaped)) for h in headers]
    print(f"\n{title}")
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in shaped:
        print("  " + "  ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))


def writeback_rows(run: dict[str, Any]) -> dict[str, Any]:
    """A write-back sync log row shaped for a report table."""
    seconds = sum(float(v) for v in (run.get("durations") or {}).values())
    return {"object": run["object"], "status": run["status"], "changes": run["extracted"],
            "created": run["created"], "updated": run["updated"], "unchanged": run["unchanged"],
            "skipped": run["skipped"], "failed": run.get("failed", 0), "retried": run.get("retried", 0),
            "api_calls": run["api_calls"], "seconds": f"{seconds:.1f}"}


def failed_records(conn: psycopg.Connection, run_ids: list[int], limit: int = 20) -> list[dict[str, Any]]:
    """Records Salesforce rejected in these runs, with the reason (for the report)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT object, COALESCE(sf_id, '-') AS sf_id, marketing_table || ' ' || marketing_id AS marketing_row,"
            " reason, left(error, 100) AS error FROM crm_sync.writeback_results"
            " WHERE run_id = ANY(%s) AND outcome = 'failed' ORDER BY result_id LIMIT %s",
            (run_ids, limit)).fetchall()
