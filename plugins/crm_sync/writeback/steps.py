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
from typing import Any

from crm_sync import runs
from crm_sync.db import connect
from crm_sync.load import ensure_target_table
from crm_sync.mapping.loader import MappingSet, load_mappings
from crm_sync.migrations import migrate
from crm_sync.paths import mappings_dir
from crm_sync.settings import load_settings, load_writeback_settings
from crm_sync.writeback import refresh as refresh_module
from crm_sync.writeback import tracking
from crm_sync.writeback.connection import ApiBudget, SalesforceConnection
from crm_sync.writeback.results import save_tally
from crm_sync.writeback.summary import format_writeback_summary
from crm_sync.writeback.write import write_changes

log = logging.getLogger(__name__)

KIND = "writeback"
DIRECTION = "to_crm"


class WritebackSkipped(RuntimeError):
    """The write-back must not run now (a full sync holds the lock)."""


def _mappings() -> MappingSet:
    return load_mappings(mappings_dir())


def _written_objects(mapping_set: MappingSet) -> list[str]:
    """Objects that get a sync log row every run: those with fields to write or creates."""
    return [m.object for m in mapping_set.objects if m.written_fields or m.writeback.create]


def prepare(*, dag_run_id: str | None = None) -> None:
    """Apply migrations, reload the mapping tables, make sure every target is tracked.

    Raises:
        WritebackSkipped: while a full sync holds its lock (a skipped run is logged).
    """
    from crm_sync.pipeline import load_mapping_tables

    settings, mapping_set = load_settings(), _mappings()
    with connect(settings.warehouse_conn_id) as wh:
        applied = migrate(wh, "warehouse")
        if applied:
            log.info("warehouse migrations applied: %s", ", ".join(applied))
        holder = runs.lock_holder(wh, runs.FULL_SYNC_LOCK)
        if holder:
            reason = f"full sync {holder} is running; the write-back waits for it"
            for object_name in _written_objects(mapping_set):
                run_id = runs.start_run(wh, object_name=object_name, kind=KIND, dag_run_id=dag_run_id,
                                        window_start=None, window_end=None, watermark_before=None)
                runs.update_run(wh, run_id, status="skipped", error=reason, finished_at=datetime.now(UTC))
            wh.commit()
            raise WritebackSkipped(reason)
        load_mapping_tables(wh, mapping_set)
        wh.commit()
    with connect(settings.marketing_conn_id) as mk:
        applied = migrate(mk, "marketing")
        if applied:
            log.info("marketing migrations applied: %s", ", ".join(applied))
        for mapping in mapping_set.objects:
            ensure_target_table(mk, mapping)
        tracking.install_tracking(mk, [m.target for m in mapping_set.objects])
        mk.commit()


def write(*, dag_run_id: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """Write the pending marketing changes to Salesforce; returns the run id per object."""
    settings, wb_settings, mapping_set = load_settings(), load_writeback_settings(), _mappings()
    snapshot = now or datetime.now(UTC)
    started = time.monotonic()
    with connect(settings.warehouse_conn_id) as wh, connect(settings.marketing_conn_id) as mk:
        run_ids: dict[str, int] = {}
        for object_name in _written_objects(mapping_set):
            run_ids[object_name] = runs.start_run(
                wh, object_name=object_name, kind=KIND, dag_run_id=dag_run_id,
                window_start=runs.get_watermark(wh, object_name, DIRECTION), window_end=snapshot,
                watermark_before=runs.get_watermark(wh, object_name, DIRECTION))
        wh.commit()
        try:
            writer = write_changes(settings, wb_settings, mapping_set, wh, mk, run_ids)
        except Exception as exc:
            wh.rollback()
            for run_id in run_ids.values():
                runs.update_run(wh, run_id, status="failed", error=f"write: {exc}"[:4000],
                                finished_at=datetime.now(UTC), duration=("write", time.monotonic() - started))
            wh.commit()
            raise
        seconds = time.monotonic() - started
        for object_name, run_id in run_ids.items():
            tally = writer.tallies[object_name]
            save_tally(wh, run_id, tally, status="written", error=writer.budget.stopped,
                       duration=("write", seconds))
        wh.commit()
    return run_ids


def refresh(run_ids: dict[str, int], *, dag_run_id: str | None = None) -> dict[str, int]:
    """Load the records waiting for a refresh (created, linked, restored); returns run ids by object."""
    settings, wb_settings, mapping_set = load_settings(), load_writeback_settings(), _mappings()
    done: dict[str, int] = {}
    with connect(settings.warehouse_conn_id) as wh:
        pending = refresh_module.pending_refreshes(wh)
        if not pending:
            return done
        connection = SalesforceConnection(settings.salesforce_conn_id, wb_settings)
        budget = ApiBudget(wb_settings.api_budget_share)
        for object_name, ids in sorted(pending.items()):
            run = refresh_module.refresh_object(wh, connection, budget, mapping_set, object_name, ids,
                                                dag_run_id=dag_run_id)
            if run is None:
                break
            done[object_name] = run["run_id"]
        if budget.stopped:
            for run_id in run_ids.values():
                if not runs.get_run(wh, run_id)["error"]:
                    runs.update_run(wh, run_id, error=budget.stopped)
            wh.commit()
    return done


def finalize(run_ids: dict[str, int]) -> list[dict[str, Any]]:
    """Close the write-back's sync log rows; advance the to_crm watermark of complete runs.

    A run that stopped early for the API budget (or left records deferred) keeps its
    watermark: its queue is not empty. Returns the final rows; their summaries are logged.
    """
    settings = load_settings()
    final = []
    with connect(settings.warehouse_conn_id) as wh:
        for object_name, run_id in sorted(run_ids.items()):
            run = runs.get_run(wh, run_id)
            if run["status"] not in ("written", "budget_stopped", "succeeded"):
                raise RuntimeError(f"write-back run {run_id} is {run['status']!r}, not written")
            deferred = any(reason.startswith("deferred_") for reason in (run["skipped_reasons"] or {}))
            stopped = bool(run["error"])
            status = "budget_stopped" if stopped else "succeeded"
            watermark = run["watermark_before"]
            if not stopped and not deferred:
                runs.set_watermark(wh, object_name, run["window_end"], run_id, DIRECTION)
                watermark = run["window_end"]
            runs.update_run(wh, run_id, status=status, watermark_after=watermark, finished_at=datetime.now(UTC))
            wh.commit()
            final.append(runs.get_run(wh, run_id))
    for run in final:
        log.info("%s", format_writeback_summary(run))
    return final
