"""The manual DAGs: `crm_full_sync` (Params form) and `crm_record_sync` (listed Ids).

Both run the differential sync's own validate, load and finalize steps; only extraction
differs. Parse time reads the mapping files and the environment only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from crm_sync.dag_factory import SALESFORCE_POOL, START_DATE, default_args
from crm_sync.mapping.loader import load_mappings
from crm_sync.paths import mappings_dir
from crm_sync.settings import load_settings

FULL_SYNC_DOC = """
### Full sync (manual)

Re-pulls every record of the chosen objects with Bulk API 2.0 (`queryAll`, deleted records
included), streamed page by page into staging, then validates, transforms and loads them
exactly like the differential sync.

Run it when an integration is new, after mapping new fields, or when you suspect drift.

* **objects**: which mapped objects (all by default).
* **mode**: `upsert` re-pulls and updates everything; `mirror` also archives marketing rows
  whose Salesforce record no longer exists (hard-deleted or purged from the recycle bin).
* **dry_run**: reports what would be created, updated and archived, writing nothing to the
  marketing database and moving no watermark (the sync log row has `dry_run = true`).

While it runs (not in a dry run) it holds the `full_sync` lock: differential runs finish
as *skipped* and say why; afterwards they resume from where the full sync ended, so changes
made during the full sync are picked up. A Bulk job that fails is retried on the two halves
of its range; a retried task resumes from the pages it already staged. It also refreshes
the record owners (`crm_users`) and the active picklist values, and reports active values
that a value map does not cover.
"""

RECORD_SYNC_DOC = """
### Record sync (manual)

Syncs the listed Salesforce records now, through the same validation, mapping and load as
every other sync. **object**: a mapped object; **ids**: record Ids separated by commas,
spaces or new lines (15 or 18 characters; anything else is refused before any query).
It does not move the object's watermark.
"""

_ID_SEPARATORS = re.compile(r"[\s,;]+")


def _publish(sync_run_id: int) -> dict[str, Any]:
    """Validate, load and finalize an extracted run; a rejected batch fails the task without retries.

    Returns the final sync log row, JSON-ready for XCom.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from crm_sync import pipeline

    try:
        pipeline.validate(sync_run_id)
    except pipeline.BatchRejected as rejected:
        raise AirflowFailException(str(rejected)) from rejected
    pipeline.load(sync_run_id)
    run = pipeline.finalize(sync_run_id)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.items()}


def build_full_sync_dag(object_names: list[str]):
    """`crm_full_sync`: manual, with a Params form."""
    from airflow.sdk import DAG, Param, get_current_context, task
    from airflow.sdk.exceptions import AirflowFailException

    from crm_sync import full_sync, pipeline
    from crm_sync.extract import extract_full

    settings = load_settings()
    with DAG(
        dag_id="crm_full_sync",
        description="Re-pull everything from Salesforce (Bulk API 2.0), on demand",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        tags=["crm_sync", "full_sync"],
        doc_md=FULL_SYNC_DOC,
        params={
            "objects": Param(object_names, type="array", items={"type": "string", "enum": object_names},
                             minItems=1, uniqueItems=True, title="Objects",
                             description="The mapped objects to sync (all by default)."),
            "mode": Param("upsert", type="string", enum=["upsert", "mirror"], title="Mode",
                          description="upsert: update everything; mirror: also archive marketing rows "
                                      "whose Salesforce record no longer exists."),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Report what would change; write nothing."),
        },
    ) as dag:

        @task
        def take_lock() -> list[str]:
            """Take the full-sync lock (not for a dry run); returns the objects to sync."""
            context = get_current_context()
            params = context["params"]
            if not params["dry_run"]:
                try:
                    full_sync.acquire_lock(context["run_id"])
                except full_sync.LockHeld as held:
                    raise AirflowFailException(str(held)) from held
            return list(params["objects"])

        @task(pool=SALESFORCE_POOL)
        def sync_object(object_name: str) -> dict[str, Any]:
            """Extract (Bulk, resumable), validate, load (and mirror), finalize one object."""
            context = get_current_context()
            params = context["params"]
            pipeline.prepare(object_name, respect_lock=False)
            sync_run_id = extract_full(object_name, dag_run_id=context["run_id"], mode=params["mode"],
                                       dry_run=params["dry_run"])
            return _publish(sync_run_id)

        @task(pool=SALESFORCE_POOL)
        def reference_data(objects: list[str]) -> dict[str, Any]:
            """Record owners and active picklist values; value-map gaps reported by name."""
            return full_sync.refresh_reference_data(objects, dry_run=get_current_context()["params"]["dry_run"])

        @task
        def release_lock() -> None:
            """Give the lock back, whatever happened."""
            full_sync.release_lock(get_current_context()["run_id"])

        objects = take_lock()
        synced = sync_object.expand(object_name=objects)
        references = reference_data(objects)
        release = release_lock().as_teardown(setups=objects)
        [synced, references] >> release
    return dag


def build_record_sync_dag(object_names: list[str]):
    """`crm_record_sync`: manual; syncs the listed record Ids now."""
    from airflow.sdk import DAG, Param, get_current_context, task
    from airflow.sdk.exceptions import AirflowFailException

    from crm_sync import pipeline
    from crm_sync.extract import extract_records
    from crm_sync.sfids import InvalidSalesforceId, validate_ids

    settings = load_settings()
    with DAG(
        dag_id="crm_record_sync",
        description="Sync listed Salesforce records now",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        default_args=default_args(settings),
        tags=["crm_sync", "record_sync"],
        doc_md=RECORD_SYNC_DOC,
        params={
            "object": Param(object_names[0], type="string", enum=object_names, title="Object"),
            "ids": Param("", type="string", minLength=15, title="Record Ids",
                         description="Salesforce record Ids, separated by commas, spaces or new lines."),
        },
    ) as dag:

        @task
        def check_ids() -> list[str]:
            """Refuse anything that is not a Salesforce Id before it reaches a query."""
            raw = [part for part in _ID_SEPARATORS.split(get_current_context()["params"]["ids"]) if part]
            try:
                return validate_ids(raw)
            except InvalidSalesforceId as bad:
                raise AirflowFailException(f"refused: {bad}") from bad

        @task(pool=SALESFORCE_POOL)
        def sync_records(ids: list[str]) -> dict[str, Any]:
            """Extract the records by Id, then validate, load and finalize them."""
            context = get_current_context()
            object_name = context["params"]["object"]
            pipeline.prepare(object_name, respect_lock=False)
            sync_run_id = extract_records(object_name, ids, dag_run_id=context["run_id"])
            return _publish(sync_run_id)

        sync_records(check_ids())
    return dag


def manual_dags() -> dict[str, Any]:
    """The manual DAGs keyed by dag id."""
    objects = [m.object for m in load_mappings(mappings_dir()).objects]
    return {"crm_full_sync": build_full_sync_dag(objects), "crm_record_sync": build_record_sync_dag(objects)}
