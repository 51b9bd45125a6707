"""Differential syncs: one `crm_differential_<object>` DAG per mapping file in include/mappings/.

Every interval (`CRM_SYNC_INTERVAL_MINUTES`, or the mapping's `schedule:`), each DAG extracts
the records of its object whose `SystemModstamp` changed since the last successful run (a
half-open window that re-reads a short overlap), stages them in the warehouse, validates
them with Great Expectations (failing rows go to `crm_quarantine.records` with their
reasons), transforms them with the mapping and upserts them into the marketing table.

* extract (prepare the object, then stage its changes) → publish (validate → load →
  finalize): two task processes; each step logs in the task log and is timed in the sync
  log, `crm_sync.sync_runs`.
* A retried `extract` reads its window again; a retried `publish` resumes where the run
  got to. A rejected batch fails `publish` without retries.
* The watermark advances only in finalize, after the load committed.
* While `crm_full_sync` runs, these runs are skipped and say why.
* A run that reaches its API budget stops as `budget_stopped` and the next run carries on.
* Adding a mapping file adds its DAG; a broken one shows as an import error naming the file
  and the field.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, get_current_context, get_parsing_context, task

from crm_sync import extract as extract_step
from crm_sync import prepare as prepare_step
from crm_sync import publish as publish_step
from crm_sync.context import RunContext
from crm_sync.dag_support import SALESFORCE_POOL, airflow_outcome, dag_arguments, published_assets
from crm_sync.mapping.model import ObjectMapping
from crm_sync.validation import check_expectation_types


def differential_dag(ctx: RunContext, mapping: ObjectMapping) -> DAG:
    """The `crm_differential_<object>` DAG of one mapping."""
    object_name = mapping.object
    every = f"`{mapping.schedule}`" if mapping.schedule else f"{ctx.settings.interval_minutes} minutes"
    with DAG(**dag_arguments(
            ctx.settings, dag_id=mapping.dag_id, schedule=mapping.schedule or ctx.settings.interval,
            description=f"Salesforce {object_name} changes → marketing {mapping.target}",
            tags=["differential", object_name],
            doc_md=f"### Salesforce `{object_name}` → marketing `{mapping.target}`, every {every}, "
                   f"matched by `{mapping.match_key}` ({mapping.file_name})\n" + __doc__)) as dag:

        @task(pool=SALESFORCE_POOL)
        def extract() -> int:
            """Prepare the object (skip while a full sync runs), stage its changes; returns the sync run id."""
            run_ctx, dag_run_id = RunContext.load(), get_current_context()["run_id"]
            with airflow_outcome():
                prepare_step.prepare_object(run_ctx, object_name, dag_run_id=dag_run_id)
                return extract_step.extract_changes(run_ctx, object_name, dag_run_id=dag_run_id)

        @task(multiple_outputs=False, outlets=published_assets(ctx.mappings, [object_name]))
        def publish(sync_run_id: int) -> dict[str, Any]:
            """Validate, load, finalize (a retry resumes where the run got to); returns the run's counts."""
            with airflow_outcome():
                return publish_step.publish(RunContext.load(), sync_run_id).as_xcom()

        publish(extract())
    return dag


_ctx = RunContext.load()
# A task process parses this file for its own DAG only (Airflow names it in the parsing
# context); the DAG processor, `dag.test()` and the tests get every DAG.
_wanted = get_parsing_context().dag_id
for _mapping in _ctx.mappings.objects:
    if _wanted is not None and _wanted != _mapping.dag_id:
        continue
    check_expectation_types(_mapping)  # a typo in a hand-written expectation fails at parse time
    globals()[_mapping.dag_id] = differential_dag(_ctx, _mapping)
