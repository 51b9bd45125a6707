"""What every crm_sync DAG shares: default arguments, the Salesforce pool, Assets, outcomes.

The DAG files in `dags/` read as the table of contents of their DAG; what they have in
common lives here, so it is written once: `dag_arguments` (owner, retries with backoff,
start date, catchup, tags, `doc_md`), `SALESFORCE_POOL` for every task that calls
Salesforce, the Assets a publishing task emits, and `airflow_outcome`, which turns the
library's outcomes into Airflow's (a skipped run skips, a permanent error fails without
retries, a budget stop skips without retries).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_sync.locks import LockHeld
from crm_sync.mapping.loader import MappingError, MappingSet
from crm_sync.prepare import SyncSkipped
from crm_sync.salesforce import BudgetExhausted, SalesforceLoginFailed, SalesforceSchemaError
from crm_sync.salesforce.ids import InvalidSalesforceId
from crm_sync.settings import Settings, SettingsError
from crm_sync.validate import BatchRejected

SALESFORCE_POOL = "salesforce_api"
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)
OWNER = "crm_sync"

#: Errors that another attempt cannot fix: the task fails at once, naming what to fix.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    BatchRejected, SalesforceLoginFailed, SalesforceSchemaError, MappingError, SettingsError, InvalidSalesforceId,
    LockHeld)


def default_args(settings: Settings) -> dict[str, Any]:
    """Task defaults: retries with exponential backoff (30 s doubling, at most 10 min)."""
    from crm_sync.alerts import dag_failure_callbacks

    return {
        "owner": OWNER,
        "on_failure_callback": dag_failure_callbacks(),
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }


def dag_arguments(settings: Settings, *, dag_id: str, description: str, schedule: Any, tags: list[str],
                  doc_md: str | None, max_active_runs: int = 1, **extra: Any) -> dict[str, Any]:
    """The keyword arguments of every crm_sync `DAG(...)`."""
    return {"dag_id": dag_id, "description": description, "schedule": schedule, "start_date": START_DATE,
            "catchup": False, "max_active_runs": max_active_runs, "default_args": default_args(settings),
            "tags": ["crm_sync", *tags], "doc_md": doc_md, **extra}


def marketing_asset(table: str) -> Any:
    """The Asset a publishing run emits for a marketing table (downstream DAGs schedule on it)."""
    from airflow.sdk import Asset

    return Asset(name=f"marketing.{table}", uri=f"crm-sync://marketing/{table}")


def sync_log_asset() -> Any:
    """The Asset of the warehouse's sync log (`crm_sync.sync_runs`), emitted by every publishing run."""
    from airflow.sdk import Asset

    return Asset(name="warehouse.sync_runs", uri="crm-sync://warehouse/sync_runs")


def published_assets(mappings: MappingSet, objects: list[str] | None = None) -> list[Any]:
    """The Assets of the marketing tables the objects load into, and the sync log."""
    targets = sorted({m.target for m in mappings.objects if objects is None or m.object in objects})
    return [*(marketing_asset(t) for t in targets), sync_log_asset()]


@contextmanager
def airflow_outcome() -> Iterator[None]:
    """Run a step; turn the library's outcomes into Airflow's.

    * `SyncSkipped` (a full sync holds the lock): the task is skipped, with the reason.
    * `BudgetExhausted`: skipped without retries; the run is `budget_stopped` and the next
      scheduled run carries on from where it stopped.
    * a permanent error (`PERMANENT_ERRORS`): failed at once, without retries.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    try:
        yield
    except (SyncSkipped, BudgetExhausted) as stopped:
        raise AirflowSkipException(str(stopped)) from stopped
    except PERMANENT_ERRORS as permanent:
        raise AirflowFailException(f"{type(permanent).__name__}: {permanent}") from permanent
