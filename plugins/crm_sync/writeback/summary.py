"""Readable summaries of write-back runs: for task logs and the demo's report."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

WRITEBACK_COLUMNS = ("object", "status", "changes", "created", "updated", "unchanged", "skipped", "failed",
                     "retried", "api_calls", "seconds")


def format_writeback_summary(run: dict[str, Any]) -> str:
    """One paragraph per object: counts, rate, API calls, and why the run stopped if it did."""
    seconds = sum(float(v) for v in (run.get("durations") or {}).values())
    rate = run["extracted"] / seconds if seconds else 0.0
    reasons = ", ".join(f"{k}={v}" for k, v in (run.get("skipped_reasons") or {}).items())
    lines = [
        f"{run['object']} write-back run {run['run_id']}: {run['status']}",
        f"  changes    {run['extracted']}  = created {run['created']} + updated {run['updated']}"
        f" + unchanged {run['unchanged']} + skipped {run['skipped']}" + (f" ({reasons})" if reasons else "")
        + f" + failed {run.get('failed', 0)}",
        f"  retried    {run.get('retried', 0)} record(s) needed more than one attempt",
        f"  api calls  {run['api_calls']}",
        f"  time       {seconds:.2f} s ({rate:.0f} records/s)",
    ]
    if run.get("error"):
        lines.append(f"  note       {run['error']}")
    return "\n".join(lines)


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
