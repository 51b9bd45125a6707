"""What a scenario's child process runs: the product's steps, timed, in this process.

The steps are the library functions the DAG tasks call (`crm_full_sync`'s `sync_object`,
the differential DAGs' tasks, `crm_writeback`'s tasks), so the figures are the sync's own
work without Airflow's scheduler and task start-up.
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

log = logging.getLogger(__name__)


def _stage_seconds(final: dict[str, Any], into: dict[str, float]) -> None:
    for name, seconds in (final.get("durations") or {}).items():
        into[name] = into.get(name, 0.0) + float(seconds)


def full_sync(objects: list[str], dag_run_id: str) -> dict[str, Any]:
    """`crm_full_sync`'s `sync_object` for each object, as its task runs it (upsert mode)."""
    from crm_sync import pipeline
    from crm_sync.extract import extract_full

    stages: dict[str, float] = {}
    records = 0
    started = time.monotonic()
    for object_name in objects:
        t0 = time.monotonic()
        pipeline.prepare(object_name, respect_lock=False)
        stages["prepare"] = stages.get("prepare", 0.0) + time.monotonic() - t0
        run_id = extract_full(object_name, dag_run_id=dag_run_id, mode="upsert")
        _log_peak("extract")
        pipeline.validate(run_id)
        _log_peak("validate")
        pipeline.load(run_id)
        _log_peak("load")
        final = pipeline.finalize(run_id)
        _log_peak("finalize")
        _stage_seconds(final, stages)
        records += int(final["extracted"] or 0)
    return {"seconds": time.monotonic() - started, "records": records, "stages": stages}


def _log_peak(after: str) -> None:
    """The worker's peak RSS so far (with BENCH_LOG_LEVEL=INFO): which step raised it."""
    log.info("peak RSS after %s: %.0f MB", after, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def differential(objects: list[str]) -> dict[str, Any]:
    """One run of each object's differential DAG: prepare, extract changes, validate, load, finalize."""
    from crm_sync import pipeline
    from crm_sync.extract import extract_changes

    stages: dict[str, float] = {}
    records = 0
    started = time.monotonic()
    for object_name in objects:
        t0 = time.monotonic()
        pipeline.prepare(object_name)
        stages["prepare"] = stages.get("prepare", 0.0) + time.monotonic() - t0
        run_id = extract_changes(object_name)
        pipeline.validate(run_id)
        pipeline.load(run_id)
        final = pipeline.finalize(run_id)
        _stage_seconds(final, stages)
        records += int(final["extracted"] or 0)
    return {"seconds": time.monotonic() - started, "records": records, "stages": stages}


def writeback_prepare() -> dict[str, Any]:
    """`crm_writeback`'s prepare task (installs change tracking on the marketing tables)."""
    from crm_sync.writeback import steps

    started = time.monotonic()
    steps.prepare()
    return {"seconds": time.monotonic() - started}


def writeback() -> dict[str, Any]:
    """One `crm_writeback` run: prepare, write, refresh, finalize."""
    from crm_sync.writeback import steps

    stages: dict[str, float] = {}
    started = time.monotonic()
    for name in ("prepare", "write", "refresh", "finalize"):
        t0 = time.monotonic()
        if name == "prepare":
            steps.prepare()
        elif name == "write":
            run_ids = steps.write()
        elif name == "refresh":
            steps.refresh(run_ids)
        else:
            final = steps.finalize(run_ids)
        stages[name] = time.monotonic() - t0
    written = sum(int((run.get("report") or {}).get("updated", 0) or run.get("updated") or 0) for run in final)
    return {"seconds": time.monotonic() - started, "records": written, "stages": stages,
            "runs": [{k: run.get(k) for k in ("object", "status", "updated", "created", "skipped", "api_calls")}
                     for run in final]}
