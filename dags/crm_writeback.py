"""Write-back: the marketing side's changes back to Salesforce, within a minute or two of each burst.

Scheduled on the marketing outbox (an Asset watched by `crm_sync.outbox_trigger`, which
listens for the marketing database's notifications in Airflow's triggerer) and, as a safety
net, every `CRM_WRITEBACK_INTERVAL_MINUTES` (hourly); `CRM_WRITEBACK_ON_CHANGE=false` keeps
only the interval.

Reads what changed in the marketing database since the last write-back (change tracking:
`crm_outbox`), decides each field by its owner and conflict rule (`direction` / `conflict`
in include/mappings/), and writes Salesforce through Bulk API 2.0: updates by Id, and new
people from marketing forms as Leads, linked back to their marketing row. Per-record
results: `crm_sync.writeback_results`; counts: the sync log `crm_sync.sync_runs` (kind
`writeback`). Salesforce-owned values edited on the marketing side are read back from
Salesforce and overwritten. Marketing activity (`marketing_activities`) becomes Salesforce
Tasks on the person's Contact or Lead (include/activity.yaml). See docs/writeback.md.

prepare → write → activity → refresh → finalize.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, get_current_context, task

from crm_sync.activity.write import write_activity
from crm_sync.context import RunContext
from crm_sync.dag_support import SALESFORCE_POOL, airflow_outcome, dag_arguments, published_assets
from crm_sync.outbox_trigger import writeback_schedule
from crm_sync.writeback import steps

_ctx = RunContext.load()

with DAG(**dag_arguments(
        _ctx.settings, dag_id="crm_writeback", schedule=writeback_schedule(_ctx.settings, _ctx.writeback), tags=["writeback"],
        doc_md=__doc__,
        description="Marketing changes → Salesforce (Bulk API 2.0), by field ownership and conflict rules")) as crm_writeback:

    @task(pool=SALESFORCE_POOL)
    def prepare() -> None:
        """Migrations, value maps, change tracking on every target; skip while a full sync runs."""
        with airflow_outcome():
            steps.prepare(RunContext.load(), dag_run_id=get_current_context()["run_id"])

    @task(multiple_outputs=False, pool=SALESFORCE_POOL)
    def write() -> dict[str, int]:
        """Write the pending marketing changes; returns the sync log run id per object."""
        with airflow_outcome():
            return steps.write(RunContext.load(), dag_run_id=get_current_context()["run_id"])

    @task(multiple_outputs=False, pool=SALESFORCE_POOL)
    def activity(run_ids: dict[str, int]) -> dict[str, int]:
        """Write the pending marketing activity as Salesforce Tasks; adds the target object's run id."""
        with airflow_outcome():
            return write_activity(RunContext.load(), run_ids, dag_run_id=get_current_context()["run_id"])

    @task(multiple_outputs=False, pool=SALESFORCE_POOL)
    def refresh(run_ids: dict[str, int]) -> dict[str, int]:
        """Read created, linked and overwritten records back into the marketing database."""
        with airflow_outcome():
            steps.refresh(RunContext.load(), run_ids, dag_run_id=get_current_context()["run_id"])
        return run_ids

    @task(outlets=published_assets(_ctx.mappings))
    def finalize(run_ids: dict[str, int]) -> list[dict[str, Any]]:
        """Close the sync log rows, advance the to_crm watermark, log the summaries."""
        return [run.as_xcom() for run in steps.finalize(RunContext.load(), run_ids)]

    run_ids = write()
    prepare() >> run_ids
    finalize(refresh(activity(run_ids)))
