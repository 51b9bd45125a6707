"""Human-readable summaries of sync runs for task logs and the sync report."""

from __future__ import annotations

from typing import Any


def format_summary(run: dict[str, Any]) -> str:
    """One paragraph a data engineer can check: counts, rate, API calls, durations."""
    seconds = sum(float(v) for v in (run.get("durations") or {}).values())
    rate = run["extracted"] / seconds if seconds else 0.0
    skipped = ", ".join(f"{reason}={count}" for reason, count in (run.get("skipped_reasons") or {}).items())
    published = run["created"] + run["updated"] + run["archived"] + run["unchanged"]
    lines = [
        f"{run['object']} {run['kind']} run {run['run_id']}: {run['status']}",
        f"  window     [{run['window_start'] or 'beginning'}, {run['window_end']}) via {run['extract_method'] or '-'}",
        f"  extracted  {run['extracted']}  = published {published} + quarantined {run['quarantined']}"
        f" + skipped {run['skipped']}" + (f" ({skipped})" if skipped else ""),
        f"  published  created {run['created']}, updated {run['updated']}, archived {run['archived']},"
        f" unchanged {run['unchanged']}",
        f"  api calls  {run['api_calls']}",
        f"  time       {seconds:.2f} s ({rate:.0f} records/s)"
        + "".join(f", {k} {float(v):.2f} s" for k, v in (run.get("durations") or {}).items()),
    ]
    return "\n".join(lines)
