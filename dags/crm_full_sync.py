"""Full sync (manual): re-pull every record of the chosen objects with Bulk API 2.0.

`queryAll` (deleted records included), streamed page by page into staging, then validated,
transformed and loaded exactly like the differential sync. Run it when an integration is
new, after mapping new fields, after fixing a value map, or when you suspect drift.

* **objects**: which mapped objects (all by default).
* **mode**: `upsert` re-pulls and updates everything; `mirror` also archives marketing rows
  whose Salesforce record no longer exists (hard-deleted or purged from the recycle bin).
* **dry_run**: reports what would be created, updated and archived, writing nothing to the
  marketing database and moving no watermark (the sync log row has `dry_run = true`).

While it runs (not in a dry run) it holds the `full_sync` lock: differential runs finish as
*skipped* and say why; afterwards they resume from where the full sync ended. A Bulk job
that fails is retried on the two halves of its range; a retried task resumes from the pages
it already staged. It also refreshes the record owners (`crm_users`) and the active picklist
values, and reports active values that a value map does not cover.

prepare → take_lock → sync_object (one mapped task per object) and reference_data → release_lock (teardown).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from crm_sync import locks
from crm_sync import prepare as prepare_step
from crm_sync.context import RunContext
from crm_sync.dag_support import SALESFORCE_POOL, airflow_outcome, dag_arguments, published_assets
from crm_sync.extract import extract_full
from crm_sync.publish import publish
from crm_sync.reference_data import refresh_reference_data
from crm_sync.runs import RunKind

_ctx = RunContext.load()
_objects = [m.object for m in _ctx.mappings.objects]

def _lease(ctx: RunContext, holder: str, dry_run: bool) -> AbstractContextManager[None]:
    """Renew the full-sync lock's lease while a task works (a dry run holds no lock)."""
    if dry_run:
        return nullcontext()
    return locks.heartbeat(ctx.warehouse, holder, lease_seconds=ctx.settings.lock_lease_seconds)


with DAG(**dag_arguments(
        _ctx.settings, dag_id="crm_full_sync", schedule=None, tags=["full_sync"], doc_md=__doc__,
        description="Re-pull everything from Salesforce (Bulk API 2.0), on demand",
        params={
            # `examples` makes Airflow's form a multi-select of the mapped objects; `items.enum`
            # refuses anything else.
            "objects": Param(_objects, type="array", items={"type": "string", "enum": _objects}, examples=_objects,
                             minItems=1, uniqueItems=True, title="Objects",
                             description="The mapped objects to sync (all by default)."),
            "mode": Param("upsert", type="string", enum=["upsert", "mirror"], title="Mode",
                          description="upsert: update everything; mirror: also archive marketing rows "
                                      "whose Salesforce record no longer exists."),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Report what would change; write nothing."),
        })) as crm_full_sync:

    @task
    def prepare() -> list[str]:
        """Migrate both databases and make every target ready; returns the objects to sync."""
        ctx = RunContext.load()
        objects = list(get_current_context()["params"]["objects"])
        prepare_step.prepare(ctx, [ctx.mapping(o) for o in objects], kind=RunKind.FULL, respect_lock=False)
        return objects

    @task
    def take_lock(objects: list[str]) -> list[str]:
        """Take the full-sync lock (not for a dry run); returns the objects to sync."""
        context = get_current_context()
        if not context["params"]["dry_run"]:
            ctx = RunContext.load()
            with ctx.warehouse() as wh, airflow_outcome():
                locks.acquire(wh, context["run_id"], lease_seconds=ctx.settings.lock_lease_seconds)
        return objects

    @task(multiple_outputs=False, pool=SALESFORCE_POOL, map_index_template="{{ object_name }}", outlets=published_assets(_ctx.mappings))
    def sync_object(object_name: str) -> dict[str, Any]:
        """Extract (Bulk, resumable), validate, load (and mirror), finalize one object."""
        context = get_current_context()
        params, ctx = context["params"], RunContext.load()
        with airflow_outcome(), _lease(ctx, context["run_id"], params["dry_run"]):
            run_id = extract_full(ctx, object_name, dag_run_id=context["run_id"], mode=params["mode"],
                                  dry_run=params["dry_run"])
            return publish(ctx, run_id).as_xcom()

    @task(multiple_outputs=False, pool=SALESFORCE_POOL)
    def reference_data(objects: list[str]) -> dict[str, Any]:
        """Record owners and active picklist values; value-map gaps reported by name."""
        context, ctx = get_current_context(), RunContext.load()
        dry_run = context["params"]["dry_run"]
        with airflow_outcome(), _lease(ctx, context["run_id"], dry_run):
            return refresh_reference_data(ctx, objects, dry_run=dry_run)

    @task
    def release_lock() -> None:
        """Give the lock back, whatever happened."""
        with RunContext.load().warehouse() as wh:
            locks.release(wh, get_current_context()["run_id"])

    objects = take_lock(prepare())
    synced = sync_object.expand(object_name=objects)
    references = reference_data(objects)
    [synced, references] >> release_lock().as_teardown(setups=objects)
