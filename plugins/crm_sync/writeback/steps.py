"""The steps of a write-back run, callable with or without Airflow.

prepare -> write -> refresh -> finalize. Each step opens its own connections (by Airflow
connection id) and can be retried: `write` only clears a change from the queue after its
results are saved (a retry re-sends, and creating a Lead is guarded by a look-up by email),
`refresh` keeps its requests until their load committed, `finalize` only reads and closes.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from crm_sync import runs
from crm_sync.alerts import send_alert, writeback_rejections
from crm_sync.context import RunContext
from crm_sync.mapping.loader import MappingSet
from crm_sync.prepare import prepare as prepare_databases
from crm_sync.runs import RunKind, RunStatus, SyncRun
from crm_sync.salesforce import ApiBudget
from crm_sync.summary import format_summary
from crm_sync.writeback import refresh as refresh_module
from crm_sync.writeback.results import save_tally
from crm_sync.writeback.write import write_changes

log = logging.getLogger(__name__)


def _written_objects(mapping_set: MappingSet) -> list[str]:
    """Objects that get a sync log row every run: those with fields to write or creates."""
    return [m.object for m in mapping_set.objects if m.written_fields or m.writeback.create]


def prepare(ctx: RunContext, *, dag_run_id: str | None = None) -> None:
    """The shared prepare over every mapping (targets and their change tracking included).

    Raises:
        SyncSkipped: while a full sync holds its lock (a skipped run is logged per written object).
    """
    written = set(_written_objects(ctx.mappings))
    prepare_databases(ctx, list(ctx.mappings.objects), kind=RunKind.WRITEBACK, dag_run_id=dag_run_id,
                      skipped_objects=[m for m in ctx.mappings.objects if m.object in written])


def write(ctx: RunContext, *, dag_run_id: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Write the pending marketing changes to Salesforce; returns the run id per object."""
    snapshot = now or datetime.now(UTC)
    started = time.monotonic()
    with ctx.warehouse() as wh, ctx.marketing() as mk:
        run_ids: dict[str, int] = {}
        for object_name in _written_objects(ctx.mappings):
            watermark = runs.get_watermark(wh, object_name, runs.TO_CRM)
            run_ids[object_name] = runs.start_run(wh, object_name=object_name, kind=RunKind.WRITEBACK,
                                                  dag_run_id=dag_run_id, window_start=watermark,
                                                  window_end=snapshot, watermark_before=watermark)
        wh.commit()
        try:
            writer = write_changes(ctx, wh, mk, run_ids)
        except Exception as exc:
            wh.rollback()
            for run_id in run_ids.values():
                runs.update_run(wh, run_id, status=RunStatus.FAILED, error=f"write: {exc}"[:4000],
                                finished_at=datetime.now(UTC), duration=("write", time.monotonic() - started))
            wh.commit()
            raise
        seconds = time.monotonic() - started
        for object_name, run_id in run_ids.items():
            save_tally(wh, run_id, writer.tallies[object_name], status=RunStatus.WRITTEN, error=writer.budget.stopped,
                       duration=("write", seconds))
        wh.commit()
    return run_ids


def refresh(ctx: RunContext, run_ids: dict[str, int], *, dag_run_id: str | None = None) -> dict[str, int]:
    """Load the records waiting for a refresh (created, linked, restored); returns run ids by object."""
    done: dict[str, int] = {}
    with ctx.warehouse() as wh:
        pending = refresh_module.pending_refreshes(wh)
        if not pending:
            return done
        gateway = ctx.salesforce(budget=ApiBudget(ctx.writeback.api_budget_share))
        for object_name, ids in sorted(pending.items()):
            run = refresh_module.refresh_object(ctx, wh, gateway, object_name, ids, dag_run_id=dag_run_id)
            if run is None:
                break
            done[object_name] = run.run_id
        stopped = gateway.budget.stopped if gateway.budget else None
        if stopped:
            for run_id in run_ids.values():
                if not runs.get_run(wh, run_id).error:
                    runs.update_run(wh, run_id, error=stopped)
            wh.commit()
    return done


def finalize(ctx: RunContext, run_ids: dict[str, int]) -> list[SyncRun]:
    """Close the write-back's sync log rows; advance the to_crm watermark of complete runs.

    A run that stopped early for the API budget (or left records deferred) keeps its
    watermark: its queue is not empty. Returns the final rows; their summaries are logged.
    """
    final = []
    with ctx.warehouse() as wh:
        for object_name, run_id in sorted(run_ids.items()):
            run = runs.get_run(wh, run_id)
            if run.status not in (RunStatus.WRITTEN, RunStatus.BUDGET_STOPPED, RunStatus.SUCCEEDED):
                raise RuntimeError(f"write-back run {run_id} is {run.status.value!r}, not written")
            deferred = any(reason.startswith("deferred_") for reason in run.skipped_reasons)
            stopped = bool(run.error)
            watermark = run.watermark_before
            if not stopped and not deferred:
                assert run.window_end is not None
                runs.set_watermark(wh, object_name, run.window_end, run_id, runs.TO_CRM)
                watermark = run.window_end
            runs.update_run(wh, run_id, status=RunStatus.BUDGET_STOPPED if stopped else RunStatus.SUCCEEDED,
                            watermark_after=watermark, finished_at=datetime.now(UTC))
            wh.commit()
            final.append(runs.get_run(wh, run_id))
    for run in final:
        log.info("%s", format_summary(run))
        _alert_rejections(ctx, run)
    return final


def _alert_rejections(ctx: RunContext, run: SyncRun) -> None:
    """A `writeback_rejections` alert naming a few rejected records and Salesforce's errors."""
    if not run.failed:
        return
    with ctx.warehouse() as wh:
        examples = [(str(record), str(error)) for record, error in wh.execute(
            "SELECT COALESCE(sf_id, marketing_table || ' ' || marketing_id), COALESCE(error, reason)"
            " FROM crm_sync.writeback_results WHERE run_id = %s AND outcome = 'failed' ORDER BY result_id LIMIT 5",
            (run.run_id,))]
    alert = writeback_rejections(run.object, run.failed, run.extracted, examples=examples)
    if alert:
        send_alert(alert)
