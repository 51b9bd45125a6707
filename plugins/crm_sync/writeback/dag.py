"""Build the `crm_writeback` DAG (parse time reads only the environment: no connection)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_sync.dag_factory import SALESFORCE_POOL, START_DATE, default_args
from crm_sync.settings import load_settings, load_writeback_settings

DAG_ID = "crm_writeback"


def writeback_dag(doc_md: str | None = None):
    """The `crm_writeback` DAG: prepare -> write -> refresh -> finalize."""
    from airflow.sdk import DAG, get_current_context, task
    from airflow.sdk.exceptions import AirflowSkipException

    from crm_sync.writeback import steps

    settings, wb_settings = load_settings(), load_writeback_settings()
    with DAG(
        dag_id=DAG_ID,
        description="Marketing changes → Salesforce (Bulk API 2.0), by field ownership and conflict rules",
        schedule=wb_settings.interval,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings),
        tags=["crm_sync", "writeback"],
        doc_md=doc_md,
    ) as dag:

        @task(pool=SALESFORCE_POOL)
        def prepare() -> None:
            """Migrations, mapping tables, change tracking on every target; skip while a full sync runs."""
            try:
                steps.prepare(dag_run_id=get_current_context()["run_id"])
            except steps.WritebackSkipped as skipped:
                raise AirflowSkipException(str(skipped)) from skipped

        @task(pool=SALESFORCE_POOL)
        def write() -> dict[str, int]:
            """Write the pending marketing changes; returns the sync log run id per object."""
            return steps.write(dag_run_id=get_current_context()["run_id"])

        @task(pool=SALESFORCE_POOL)
        def refresh(run_ids: dict[str, int]) -> dict[str, int]:
            """Read created, linked and overwritten records back into the marketing database."""
            steps.refresh(run_ids, dag_run_id=get_current_context()["run_id"])
            return run_ids

        @task
        def finalize(run_ids: dict[str, int]) -> list[dict[str, Any]]:
            """Close the sync log rows, advance the to_crm watermark, log the summaries."""
            return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.items()}
                    for run in steps.finalize(run_ids)]

        run_ids = write()
        prepare() >> run_ids
        finalize(refresh(run_ids))
    return dag
