"""`crm_reconcile`: the scheduled drift check (daily by default)."""

from __future__ import annotations

import os
from typing import Any

from crm_sync.dag_factory import SALESFORCE_POOL, START_DATE, default_args
from crm_sync.mapping.loader import load_mappings
from crm_sync.paths import mappings_dir
from crm_sync.settings import load_settings

DOC = """
### Reconciliation (daily)

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
"""


def build_reconcile_dag(object_names: list[str]):
    """`crm_reconcile`, one mapped task per object."""
    from airflow.sdk import DAG, get_current_context, task
    from airflow.sdk.exceptions import AirflowSkipException

    from crm_sync import reconcile, runs
    from crm_sync.db import connect

    settings = load_settings()
    with DAG(
        dag_id="crm_reconcile",
        description="Find and repair drift between Salesforce and the marketing database",
        schedule=os.environ.get("CRM_RECONCILE_SCHEDULE", "@daily"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        tags=["crm_sync", "reconcile"],
        doc_md=DOC,
    ) as dag:

        @task
        def objects() -> list[str]:
            """The objects to check; skip everything while a full sync runs."""
            with connect(load_settings().warehouse_conn_id) as wh:
                from crm_sync.migrations import migrate

                migrate(wh, "warehouse")
                holder = runs.lock_holder(wh, runs.FULL_SYNC_LOCK)
                wh.commit()
            if holder:
                raise AirflowSkipException(f"full sync {holder} is running; it re-checks everything anyway")
            return object_names

        @task(pool=SALESFORCE_POOL)
        def reconcile_object(object_name: str) -> dict[str, Any]:
            """Compare one object with Salesforce and repair the drift."""
            return reconcile.reconcile_object(object_name, dag_run_id=get_current_context()["run_id"])

        reconcile_object.expand(object_name=objects())
    return dag


def reconcile_dags() -> dict[str, Any]:
    """The reconciliation DAG keyed by dag id."""
    objects = [m.object for m in load_mappings(mappings_dir()).objects]
    return {"crm_reconcile": build_reconcile_dag(objects)}
