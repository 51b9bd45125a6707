"""Publish an extracted run: validate → load → finalize, the same for every kind of run.

Differentials, full syncs, record syncs, reconciliation repairs, the write-back's refresh
and the benchmarks all publish through `publish`, with one rejection policy:

* a rejected batch (`BatchRejected`: a batch-level expectation failed, or the quarantined
  share is above the threshold) publishes nothing; the run is marked `failed` with the
  reason, its quarantine rows stay for inspection, and the error propagates. Retrying does
  not help (the same data fails the same way): the DAGs fail the task without retries, and
  the write-back's refresh drops its requests (the records are in quarantine);
* any other failure marks the run `failed` and propagates; every step can be retried.
"""

from __future__ import annotations

from crm_sync.context import RunContext
from crm_sync.finalize import finalize
from crm_sync.load import load
from crm_sync.runs import SyncRun
from crm_sync.validate import BatchRejected, validate

__all__ = ["BatchRejected", "publish"]


def publish(ctx: RunContext, run_id: int) -> SyncRun:
    """Validate, load and finalize the extracted run; returns its final sync log row.

    Raises:
        BatchRejected: validation rejected the batch; nothing was published.
    """
    validate(ctx, run_id)
    load(ctx, run_id)
    return finalize(ctx, run_id)
