"""Record sync (manual): sync the listed Salesforce records now.

The records go through the same validation, mapping and load as every other sync, and do
not move the object's watermark. The mapping's filter holds here too: a record outside it is
not loaded, and its marketing row, if any, is archived as `left_filter` (listed in the run's
report). **object**: a mapped object; **ids**: record Ids, one per
line (commas and spaces also separate them; 15 or 18 characters; anything else is refused
before any query). The console's replay and "sync now" buttons trigger this DAG.

check_ids → sync_records.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from crm_sync import prepare as prepare_step
from crm_sync.context import RunContext
from crm_sync.dag_support import SALESFORCE_POOL, airflow_outcome, dag_arguments, published_assets
from crm_sync.extract import extract_records
from crm_sync.publish import publish
from crm_sync.salesforce.ids import id_prefix_help, split_ids, validate_ids

_ctx = RunContext.load()
_objects = [m.object for m in _ctx.mappings.objects]

with DAG(**dag_arguments(
        _ctx.settings, dag_id="crm_record_sync", schedule=None, tags=["record_sync"], doc_md=__doc__,
        description="Sync listed Salesforce records now", max_active_runs=16,
        params={
            "object": Param(_objects[0], type="string", enum=_objects, title="Object",
                            description="The object of the records. " + id_prefix_help(_objects)),
            "ids": Param("", type="string", minLength=15, title="Record Ids", format="multiline",
                         description="Salesforce record Ids, one per line."),
        })) as crm_record_sync:

    @task
    def check_ids() -> list[str]:
        """Refuse anything that is not a Salesforce Id of the chosen object before it reaches a query."""
        params = get_current_context()["params"]
        with airflow_outcome():
            return validate_ids(split_ids(params["ids"]), object_name=params["object"])

    @task(multiple_outputs=False, pool=SALESFORCE_POOL, outlets=published_assets(_ctx.mappings))
    def sync_records(ids: list[str]) -> dict[str, Any]:
        """Extract the records by Id, then validate, load and finalize them."""
        context, ctx = get_current_context(), RunContext.load()
        object_name = context["params"]["object"]
        with airflow_outcome():
            prepare_step.prepare_object(ctx, object_name, respect_lock=False)
            run_id = extract_records(ctx, object_name, ids, dag_run_id=context["run_id"])
            return publish(ctx, run_id).as_xcom()

    sync_records(check_ids())
