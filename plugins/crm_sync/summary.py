"""Human-readable summaries of sync runs, for the task logs."""

from __future__ import annotations

from crm_sync.runs import RunKind, SyncRun


def format_summary(run: SyncRun) -> str:
    """One paragraph a data engineer can check: counts, rate, API calls, durations."""
    if run.kind is RunKind.WRITEBACK:
        return format_writeback_summary(run)
    seconds = run.seconds
    rate = run.extracted / seconds if seconds else 0.0
    skipped = ", ".join(f"{reason}={count}" for reason, count in run.skipped_reasons.items())
    lines = [
        f"{run.object} {run.kind.value} run {run.run_id}: {run.status.value}",
        f"  window     [{run.window_start or 'beginning'}, {run.window_end}) via {run.extract_method or '-'}",
        f"  extracted  {run.extracted}  = published {run.published} + quarantined {run.quarantined}"
        f" + skipped {run.skipped}" + (f" ({skipped})" if skipped else ""),
        f"  published  created {run.created}, updated {run.updated}, archived {run.archived},"
        f" unchanged {run.unchanged}",
        f"  api calls  {run.api_calls}",
        f"  time       {seconds:.2f} s ({rate:.0f} records/s)"
        + "".join(f", {k} {float(v):.2f} s" for k, v in run.durations.items()),
    ]
    return "\n".join(lines)


def format_writeback_summary(run: SyncRun) -> str:
    """One paragraph per write-back object: counts, rate, API calls, and why it stopped if it did."""
    seconds = run.seconds
    rate = run.extracted / seconds if seconds else 0.0
    reasons = ", ".join(f"{k}={v}" for k, v in run.skipped_reasons.items())
    lines = [
        f"{run.object} write-back run {run.run_id}: {run.status.value}",
        f"  changes    {run.extracted}  = created {run.created} + updated {run.updated}"
        f" + unchanged {run.unchanged} + skipped {run.skipped}" + (f" ({reasons})" if reasons else "")
        + f" + failed {run.failed}",
        f"  retried    {run.retried} record(s) needed more than one attempt",
        f"  api calls  {run.api_calls}",
        f"  time       {seconds:.2f} s ({rate:.0f} records/s)",
    ]
    if run.error:
        lines.append(f"  note       {run.error}")
    return "\n".join(lines)
