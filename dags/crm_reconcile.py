"""Reconciliation (daily, `CRM_RECONCILE_SCHEDULE`): find and repair drift between Salesforce and marketing.

For every mapped object, asks Salesforce for just `Id, SystemModstamp, IsDeleted` (one Bulk
API 2.0 job above the Bulk threshold, REST pages below) and compares it in the warehouse
with what the sync last processed and with the marketing table. It repairs:

* **missing**: live in Salesforce but not in marketing (never synced, or lost there);
* **stale**: changed in Salesforce since the version the sync last loaded;
* **deleted but present**: in Salesforce's recycle bin, active in marketing;
* **gone but present**: hard-deleted or purged in Salesforce, active in marketing (archived).

Records the sync skipped or quarantined on purpose are not drift. Only versions older than
the object's watermark count (newer ones are the next differential's job). Findings and
repairs are in the sync log (`kind = 'reconcile'`, column `report`); repairs run as
`kind = 'repair'` sync runs through the usual validation and load. Skipped while a full
sync runs. Cost: see docs/operations.md.

objects → reconcile_object (one mapped task per object).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, get_current_context, task

from crm_sync import locks
from crm_sync.context import RunContext
from crm_sync.dag_support import SALESFORCE_POOL, airflow_outcome, dag_arguments, published_assets
from crm_sync.migrations import migrate
from crm_sync.prepare import SyncSkipped
from crm_sync.reconcile import reconcile_object

_ctx = RunContext.load()
_objects = [m.object for m in _ctx.mappings.objects]

with DAG(**dag_arguments(
        _ctx.settings, dag_id="crm_reconcile", schedule=_ctx.settings.reconcile_schedule, tags=["reconcile"],
        doc_md=__doc__,
        description="Find and repair drift between Salesforce and the marketing database")) as crm_reconcile:

    @task
    def objects() -> list[str]:
        """The objects to check; skip everything while a full sync runs."""
        with RunContext.load().warehouse() as wh, airflow_outcome():
            migrate(wh, "warehouse")
            holder = locks.lock_holder(wh)
            wh.commit()
            if holder:
                raise SyncSkipped(f"full sync {holder} is running; it re-checks everything anyway")
        return _objects

    @task(multiple_outputs=False, pool=SALESFORCE_POOL, map_index_template="{{ object_name }}", outlets=published_assets(_ctx.mappings))
    def reconcile(object_name: str) -> dict[str, Any]:
        """Compare one object with Salesforce and repair the drift."""
        with airflow_outcome():
            return reconcile_object(RunContext.load(), object_name, dag_run_id=get_current_context()["run_id"])

    reconcile.expand(object_name=objects())
