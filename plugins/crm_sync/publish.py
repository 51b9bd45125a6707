"""Publish an extracted run: validate → load → finalize, the same for every kind of run.

Differentials, full syncs, record syncs, reconciliation repairs, the write-back's refresh
and the benchmarks all publish through `publish`, with one rejection policy:

* a rejected batch (`BatchRejected`: a batch-level expectation failed, or the quarantined
  share is above the threshold) publishes nothing; the run is marked `failed` with the
  reason, its quarantine rows stay for inspection, and the error propagates. Retrying does
  not help (the same data fails the same way): the DAGs fail the task without retries, and
  the write-back's refresh drops its requests (the records are in quarantine);
* any other failure marks the run `failed` and propagates; every step can be retried.

A retried `publish` resumes where the run got to (`runs.resume_point`), it does not redo: a
run already `validated` is not validated again, one already `loaded` goes straight to
finalize (loading again would count every record `unchanged` and the sync log would lose
what the first load did), and one that `succeeded` is returned as it is.
"""

from __future__ import annotations

import logging

from crm_sync import runs
from crm_sync.context import RunContext
from crm_sync.finalize import finalize
from crm_sync.load import load
from crm_sync.runs import RunStatus, SyncRun
from crm_sync.validate import BatchRejected, validate

log = logging.getLogger(__name__)

__all__ = ["BatchRejected", "publish"]


def publish(ctx: RunContext, run_id: int) -> SyncRun:
    """Validate, load and finalize the extracted run, from where it got to; returns its final row.

    Raises:
        BatchRejected: validation rejected the batch; nothing was published.
    """
    with ctx.warehouse() as wh:
        run = runs.get_run(wh, run_id)
        reached = runs.resume_point(run)
        if reached in (RunStatus.SUCCEEDED, RunStatus.DRY_RUN):
            log.info("run %d is %s already: nothing to publish", run_id, reached.value)
            return run
        if reached is not run.status:
            log.info("run %d: resuming from %s (it stopped with: %s)", run_id, reached.value, run.error)
            runs.update_run(wh, run_id, status=reached, error=None)
            wh.commit()
    if reached not in (RunStatus.VALIDATED, RunStatus.LOADED):
        validate(ctx, run_id)
    if reached is not RunStatus.LOADED:
        load(ctx, run_id)
    return finalize(ctx, run_id)
