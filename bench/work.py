"""What a scenario's child process runs: the product's steps, timed, in this process.

The steps are the library functions the DAG tasks call (`crm_full_sync`'s `sync_object`,
the differential DAGs' tasks, `crm_writeback`'s tasks), so the figures are the sync's own
work without Airflow's scheduler and task start-up.
"""

from __future__ import annotations

import logging
import resource
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_sync.runs import SyncRun

log = logging.getLogger(__name__)


def _stage_seconds(final: SyncRun, into: dict[str, float]) -> None:
    for name, seconds in final.durations.items():
        into[name] = into.get(name, 0.0) + float(seconds)


def full_sync(objects: list[str], dag_run_id: str) -> dict[str, Any]:
    """`crm_full_sync`'s `sync_object` for each object, as its task runs it (upsert mode)."""
    from crm_sync.context import RunContext
    from crm_sync.extract import extract_full
    from crm_sync.finalize import finalize
    from crm_sync.load import load
    from crm_sync.prepare import prepare_object
    from crm_sync.validate import validate

    stages: dict[str, float] = {}
    records = 0
    started = time.monotonic()
    for object_name in objects:
        t0 = time.monotonic()
        ctx = RunContext.load()
        prepare_object(ctx, object_name, respect_lock=False)
        stages["prepare"] = stages.get("prepare", 0.0) + time.monotonic() - t0
        run_id = extract_full(ctx, object_name, dag_run_id=dag_run_id, mode="upsert")
        _log_peak("extract")
        validate(ctx, run_id)
        _log_peak("validate")
        load(ctx, run_id)
        _log_peak("load")
        final = finalize(ctx, run_id)
        _log_peak("finalize")
        _stage_seconds(final, stages)
        records += final.extracted
    return {"seconds": time.monotonic() - started, "records": records, "stages": stages}


def _log_peak(after: str) -> None:
    """The worker's peak RSS so far (with BENCH_LOG_LEVEL=INFO): which step raised it."""
    log.info("peak RSS after %s: %.0f MB", after, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def differential(objects: list[str]) -> dict[str, Any]:
    """One run of each object's differential DAG: prepare, extract changes, validate, load, finalize."""
    from crm_sync.context import RunContext
    from crm_sync.extract import extract_changes
    from crm_sync.prepare import prepare_object
    from crm_sync.publish import publish

    stages: dict[str, float] = {}
    records = 0
    started = time.monotonic()
    for object_name in objects:
        t0 = time.monotonic()
        ctx = RunContext.load()
        prepare_object(ctx, object_name)
        stages["prepare"] = stages.get("prepare", 0.0) + time.monotonic() - t0
        run_id = extract_changes(ctx, object_name)
        final = publish(ctx, run_id)
        _stage_seconds(final, stages)
        records += final.extracted
    return {"seconds": time.monotonic() - started, "records": records, "stages": stages}


def writeback_prepare() -> dict[str, Any]:
    """`crm_writeback`'s prepare task (installs change tracking on the marketing tables)."""
    from crm_sync.context import RunContext
    from crm_sync.writeback import steps

    started = time.monotonic()
    steps.prepare(RunContext.load())
    return {"seconds": time.monotonic() - started}


def writeback() -> dict[str, Any]:
    """One `crm_writeback` run: prepare, write, refresh, finalize."""
    from crm_sync.context import RunContext
    from crm_sync.writeback import steps

    ctx = RunContext.load()
    stages: dict[str, float] = {}
    started = time.monotonic()
    for name in ("prepare", "write", "refresh", "finalize"):
        t0 = time.monotonic()
        if name == "prepare":
            steps.prepare(ctx)
        elif name == "write":
            run_ids = steps.write(ctx)
        elif name == "refresh":
            steps.refresh(ctx, run_ids)
        else:
            final = steps.finalize(ctx, run_ids)
        stages[name] = time.monotonic() - t0
    written = sum(int(run.report.get("updated", 0) or run.updated or 0) for run in final)
    return {"seconds": time.monotonic() - started, "records": written, "stages": stages,
            "runs": [run.as_xcom() for run in final]}
