"""Build the differential sync DAGs, one per mapping file.

Parse time reads only the mapping files and the environment: no connection, no network,
no database (a test proves it). A broken mapping file raises MappingError, which Airflow
shows as an import error naming the file and the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_sync.mapping.loader import load_mappings
from crm_sync.mapping.model import ObjectMapping
from crm_sync.paths import mappings_dir
from crm_sync.settings import Settings, load_settings

SALESFORCE_POOL = "salesforce_api"
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)

def default_args(settings: Settings) -> dict[str, Any]:
    """Task defaults: retries with exponential backoff (30 s doubling, at most 10 min)."""
    return {
        "owner": "crm_sync",
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }

_DOC = """
### Differential sync of Salesforce `{object}` → marketing `{target}`

Every {every}, extracts the `{object}` records whose `SystemModstamp` changed since the last
successful run (a half-open window, re-reading a short overlap), stages them in the
warehouse, validates them with Great Expectations (failing rows go to
`crm_quarantine.records` with their reasons), transforms them with the mapping
`{mapping_file}` and upserts them into `{target}` matched by `{match_key}`.

* Sync log: `crm_sync.sync_runs` (one row per run; each task log ends with a summary).
* The watermark (`crm_sync.watermarks`) advances only in `finalize`, after the load committed.
* While `crm_full_sync` runs, this DAG's runs are skipped and say why.
"""


def _every(mapping: ObjectMapping, settings: Settings) -> str:
    return f"`{mapping.schedule}`" if mapping.schedule else f"{settings.interval_minutes} minutes"


def build_differential_dag(mapping: ObjectMapping, settings: Settings):
    """The `crm_differential_<object>` DAG of one mapping."""
    from airflow.sdk import DAG, get_current_context, task
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from crm_sync import extract as extract_step
    from crm_sync import pipeline

    object_name = mapping.object
    with DAG(
        dag_id=mapping.dag_id,
        description=f"Salesforce {object_name} changes → marketing {mapping.target}",
        schedule=mapping.schedule or settings.interval,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        tags=["crm_sync", "differential", object_name],
        doc_md=_DOC.format(object=object_name, target=mapping.target, match_key=mapping.match_key,
                           every=_every(mapping, settings), mapping_file=f"{object_name.lower()}.yaml"),
    ) as dag:

        @task(pool=SALESFORCE_POOL)
        def prepare() -> None:
            """Migrations, mapping tables, target table; skip while a full sync runs."""
            try:
                pipeline.prepare(object_name, dag_run_id=get_current_context()["run_id"])
            except pipeline.SyncSkipped as skipped:
                raise AirflowSkipException(str(skipped)) from skipped

        @task(pool=SALESFORCE_POOL)
        def extract() -> int:
            """Stage the changed records; returns the run id (the batch id)."""
            return extract_step.extract_changes(object_name, dag_run_id=get_current_context()["run_id"])

        @task
        def validate(sync_run_id: int) -> int:
            """Great Expectations on the staged batch; quarantine failing rows."""
            try:
                pipeline.validate(sync_run_id)
            except pipeline.BatchRejected as rejected:
                raise AirflowFailException(str(rejected)) from rejected
            return sync_run_id

        @task
        def load(sync_run_id: int) -> int:
            """Upsert the valid rows into the marketing database."""
            pipeline.load(sync_run_id)
            return sync_run_id

        @task
        def finalize(sync_run_id: int) -> dict[str, Any]:
            """Advance the watermark and write the summary."""
            run = pipeline.finalize(sync_run_id)
            return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.items()}

        sync_run_id = extract()
        prepare() >> sync_run_id
        finalize(load(validate(sync_run_id)))
    return dag


def differential_dags() -> dict[str, Any]:
    """All differential DAGs keyed by dag id, from the mapping files in sorted order."""
    from crm_sync.validation import check_expectation_types

    settings = load_settings()
    mapping_set = load_mappings(mappings_dir())
    for mapping in mapping_set.objects:
        check_expectation_types(mapping)  # a typo in a hand-written expectation fails at parse
    return {m.dag_id: build_differential_dag(m, settings) for m in mapping_set.objects}
