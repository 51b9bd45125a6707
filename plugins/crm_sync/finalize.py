"""Step 5, finalize: advance the watermark after the load committed, close the run, tidy up.

Only a loaded run finalizes. Differential and full runs (not dry runs) move the object's
watermark to the end of their window, in the same transaction that marks them succeeded;
every run remembers the versions it processed and the hashes of the values it loaded (what
reconciliation compares), remembers the records it skipped because another record holds
their match key, settles the older quarantine rows of records that now loaded, and purges
staging past its retention. Then the records whose blocking key is free now are re-read by Id
(`reevaluate.resync_freed`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from crm_sync import reevaluate, runs
from crm_sync.context import RunContext
from crm_sync.db import analyze_after
from crm_sync.runs import RunStatus, SyncRun
from crm_sync.sqlfiles import read_sql
from crm_sync.summary import format_summary

log = logging.getLogger(__name__)

# The bookkeeping table finalize grows (validate and load refresh the ones they write).
_BOOKKEEPING_TABLES = ("crm_sync.synced_records",)


class RunNotLoaded(RuntimeError):
    """Finalize was asked to close a run that did not load: the watermark stays."""


def finalize(ctx: RunContext, run_id: int) -> SyncRun:
    """Advance the watermark (differential and full runs), close the run, purge old staging.

    Returns the final sync log row; its summary is logged.

    Raises:
        RunNotLoaded: when the run is not `loaded`.
    """
    with ctx.warehouse() as wh:
        run = runs.get_run(wh, run_id)
        if run.status is not RunStatus.LOADED:
            raise RunNotLoaded(f"run {run_id} is {run.status.value!r}, not loaded: the watermark stays")
        with runs.step(wh, run_id, "finalize"):
            if run.moves_watermark:
                assert run.window_end is not None
                runs.set_watermark(wh, run.object, run.window_end, run_id)
            if not run.dry_run:
                params = {"run_id": run_id, "object": run.object}
                wh.execute(read_sql("finalize/remember_records.sql"), params)
                wh.execute(read_sql("finalize/settle_quarantine.sql"), params)
                reevaluate.remember_blocked(wh, ctx.mapping(run.object), run_id)
            purged = wh.execute(read_sql("finalize/purge_staging.sql"),
                                {"days": ctx.settings.staging_retention_days}).rowcount
            if purged:
                log.info("purged %d staging row(s) older than %d days", purged, ctx.settings.staging_retention_days)
            pruned = wh.execute(read_sql("finalize/purge_events.sql"),
                                {"days": ctx.settings.event_retention_days}).rowcount
            if pruned:
                log.info("pruned %d record event(s) older than %d days", pruned, ctx.settings.event_retention_days)
            analyze_after(wh, run.extracted, _BOOKKEEPING_TABLES)
            runs.update_run(wh, run_id, status=RunStatus.DRY_RUN if run.dry_run else RunStatus.SUCCEEDED,
                            watermark_after=run.window_end if run.moves_watermark else run.watermark_before,
                            finished_at=datetime.now(UTC))
        final = runs.get_run(wh, run_id)
    log.info("%s", format_summary(final))
    _resync_freed(ctx, final)
    return final


def _resync_freed(ctx: RunContext, run: SyncRun) -> None:
    """Re-read the records whose blocking key this run (or an earlier one) freed; noted in the report.

    The run itself has succeeded by now: a failing repair is logged and reported, and its
    records stay blocked for the next run to try again.
    """
    try:
        done = reevaluate.resync_freed(ctx, run)
    except Exception as exc:  # the run stands; the records stay blocked and are tried again
        log.warning("run %d: re-reading the records whose key is free failed, the next run tries again: %s",
                    run.run_id, exc)
        done = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    if done:
        with ctx.warehouse() as wh:
            runs.update_run(wh, run.run_id, report={"reevaluated": done})
            wh.commit()
