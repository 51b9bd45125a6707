"""Settings of the sync, read from the environment (documented in the README's Settings table)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta


class SettingsError(ValueError):
    """A setting has a value the sync cannot use."""


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r}: expected a whole number") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name}={value}: must be between {low} and {high}")
    return value


def _float(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r}: expected a number") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name}={value}: must be between {low} and {high}")
    return value


_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")


def _schedule(name: str, default: str) -> str:
    """A cron expression (five fields) or one of Airflow's presets."""
    raw = (os.environ.get(name) or "").strip() or default
    fields = raw.split()
    if raw in _PRESETS or (len(fields) == 5 and all(re.fullmatch(r"[\d*/,\-A-Za-z?]+", f) for f in fields)):
        return raw
    raise SettingsError(f"{name}={raw!r}: expected a cron expression of five fields or one of "
                        f"{', '.join(_PRESETS)}")


@dataclass(frozen=True)
class Settings:
    """All tunables of the differential sync."""

    interval_minutes: int
    lookback_seconds: int
    safety_lag_seconds: int
    bulk_threshold: int
    bulk_page_size: int
    bulk_max_splits: int
    quarantine_threshold: float
    quarantine_min_rows: int
    staging_retention_days: int
    event_retention_days: int
    task_retries: int
    api_max_attempts: int
    api_retry_seconds: float
    api_budget_share: float
    reconcile_schedule: str
    salesforce_conn_id: str
    warehouse_conn_id: str
    marketing_conn_id: str

    @property
    def interval(self) -> timedelta:
        """The differential schedule as a timedelta."""
        return timedelta(minutes=self.interval_minutes)


def load_settings() -> Settings:
    """Read the settings from the environment.

    Raises:
        SettingsError: naming the variable and the allowed range.
    """
    return Settings(
        interval_minutes=_int("CRM_SYNC_INTERVAL_MINUTES", 60, 5, 24 * 60),
        lookback_seconds=_int("CRM_SYNC_LOOKBACK_SECONDS", 300, 0, 7 * 24 * 3600),
        safety_lag_seconds=_int("CRM_SYNC_SAFETY_LAG_SECONDS", 15, 0, 3600),
        bulk_threshold=_int("CRM_SYNC_BULK_THRESHOLD", 10_000, 1, 100_000_000),
        bulk_page_size=_int("CRM_SYNC_BULK_PAGE_SIZE", 50_000, 100, 1_000_000),
        bulk_max_splits=_int("CRM_SYNC_BULK_MAX_SPLITS", 4, 0, 12),
        quarantine_threshold=_float("CRM_SYNC_QUARANTINE_THRESHOLD", 0.2, 0.0, 1.0),
        quarantine_min_rows=_int("CRM_SYNC_QUARANTINE_MIN_ROWS", 50, 0, 100_000_000),
        staging_retention_days=_int("CRM_SYNC_STAGING_RETENTION_DAYS", 7, 1, 3650),
        event_retention_days=_int("CRM_SYNC_EVENT_RETENTION_DAYS", 30, 1, 3650),
        task_retries=_int("CRM_SYNC_TASK_RETRIES", 3, 0, 20),
        api_max_attempts=_int("CRM_SYNC_API_MAX_ATTEMPTS", 5, 1, 20),
        api_retry_seconds=_float("CRM_SYNC_API_RETRY_SECONDS", 2.0, 0.0, 300.0),
        api_budget_share=_float("CRM_SYNC_API_BUDGET_SHARE", 0.5, 0.01, 1.0),
        reconcile_schedule=_schedule("CRM_RECONCILE_SCHEDULE", "@daily"),
        salesforce_conn_id=os.environ.get("CRM_SYNC_SALESFORCE_CONN_ID", "salesforce_default"),
        warehouse_conn_id=os.environ.get("CRM_SYNC_WAREHOUSE_CONN_ID", "crm_warehouse"),
        marketing_conn_id=os.environ.get("CRM_SYNC_MARKETING_CONN_ID", "marketing_db"),
    )


@dataclass(frozen=True)
class WritebackSettings:
    """Tunables of the write-back to Salesforce (`crm_writeback`)."""

    interval_minutes: int
    api_budget_share: float
    batch_size: int

    @property
    def interval(self) -> timedelta:
        """The write-back schedule as a timedelta."""
        return timedelta(minutes=self.interval_minutes)


def load_writeback_settings() -> WritebackSettings:
    """Read the write-back settings from the environment.

    Raises:
        SettingsError: naming the variable and the allowed range.
    """
    return WritebackSettings(
        interval_minutes=_int("CRM_WRITEBACK_INTERVAL_MINUTES", 60, 5, 24 * 60),
        api_budget_share=_float("CRM_WRITEBACK_API_BUDGET_SHARE", 0.5, 0.01, 1.0),
        batch_size=_int("CRM_WRITEBACK_BATCH_SIZE", 10_000, 1, 150_000),
    )
