"""Settings of the sync, read from the environment (documented in the README's Settings table)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


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


def _bool(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: expected true or false")


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
    lock_lease_seconds: int
    task_retries: int
    api_max_attempts: int
    api_retry_seconds: float
    api_budget_share: float
    reconcile_schedule: str
    salesforce_conn_id: str
    warehouse_conn_id: str
    marketing_conn_id: str
    locked_fields: str = "reject"  # CRM_LOCKED_FIELDS: reject | revert | off (crm_sync.locked_fields)

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
        lock_lease_seconds=_int("CRM_SYNC_LOCK_LEASE_SECONDS", 600, 30, 86_400),
        task_retries=_int("CRM_SYNC_TASK_RETRIES", 3, 0, 20),
        api_max_attempts=_int("CRM_SYNC_API_MAX_ATTEMPTS", 5, 1, 20),
        api_retry_seconds=_float("CRM_SYNC_API_RETRY_SECONDS", 2.0, 0.0, 300.0),
        api_budget_share=_float("CRM_SYNC_API_BUDGET_SHARE", 0.5, 0.01, 1.0),
        reconcile_schedule=_schedule("CRM_RECONCILE_SCHEDULE", "@daily"),
        salesforce_conn_id=os.environ.get("CRM_SYNC_SALESFORCE_CONN_ID", "salesforce_default"),
        warehouse_conn_id=os.environ.get("CRM_SYNC_WAREHOUSE_CONN_ID", "crm_warehouse"),
        marketing_conn_id=os.environ.get("CRM_SYNC_MARKETING_CONN_ID", "marketing_db"),
        locked_fields=_choice("CRM_LOCKED_FIELDS", "reject", ("reject", "revert", "off")),
    )


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = (os.environ.get(name) or "").strip().lower() or default
    if raw not in allowed:
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(allowed)}")
    return raw


@dataclass(frozen=True)
class WritebackSettings:
    """Tunables of the write-back to Salesforce (`crm_writeback`)."""

    interval_minutes: int
    api_budget_share: float
    batch_size: int
    on_change: bool
    quiet_seconds: float
    max_wait_seconds: float

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
        on_change=_bool("CRM_WRITEBACK_ON_CHANGE", True),
        quiet_seconds=_float("CRM_WRITEBACK_QUIET_SECONDS", 15.0, 0.5, 600.0),
        max_wait_seconds=_float("CRM_WRITEBACK_MAX_WAIT_SECONDS", 60.0, 1.0, 3600.0),
    )


@dataclass(frozen=True)
class ActivitySettings:
    """Tunables of writing marketing activity as Salesforce Tasks (docs/writeback.md)."""

    enabled: bool
    config_file: str | None  # None: include/activity.yaml
    batch_size: int


def load_activity_settings() -> ActivitySettings:
    """Read the activity write-back settings from the environment.

    Raises:
        SettingsError: naming the variable and the allowed range.
    """
    return ActivitySettings(
        enabled=_bool("CRM_ACTIVITY_ENABLED", True),
        config_file=(os.environ.get("CRM_ACTIVITY_FILE") or "").strip() or None,
        batch_size=_int("CRM_ACTIVITY_BATCH_SIZE", 5_000, 1, 150_000),
    )


#: Alert kinds, in the order the docs list them (see crm_sync.alerts).
ALERT_KINDS = ("failure", "batch_rejected", "quarantine_high", "schema_drift", "stale", "writeback_rejections")

_DOTTED_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*[.:][A-Za-z_][A-Za-z0-9_]*$")
_EMAIL_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+$")


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and when the sync raises them (docs/operations.md, "Alerts")."""

    email_to: tuple[str, ...]
    email_from: str | None
    smtp_conn_id: str
    slack_webhook_conn_id: str | None
    notifier_paths: tuple[str, ...]
    notifier_kwargs: dict[str, dict[str, Any]]
    quarantine_share: float
    stale_intervals: int

    @property
    def has_notifiers(self) -> bool:
        """Whether any notifier is configured (otherwise alerts are only logged)."""
        return bool(self.email_to or self.slack_webhook_conn_id or self.notifier_paths)


def _text(name: str) -> str | None:
    raw = os.environ.get(name, "").strip()
    return raw or None


def _email_list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    addresses = tuple(part.strip() for part in raw.split(",") if part.strip())
    for address in addresses:
        if not _EMAIL_ADDRESS.match(address):
            raise SettingsError(f"{name}: {address!r} is not an email address (expected a@b.c, comma-separated)")
    return addresses


def _notifier_paths(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    paths = tuple(part.strip() for part in raw.split(",") if part.strip())
    for path in paths:
        if not _DOTTED_PATH.match(path):
            raise SettingsError(
                f"{name}: {path!r} is not a dotted class path (expected package.module.ClassName, comma-separated)"
            )
    return paths


def _notifier_kwargs(name: str, paths: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name}: not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise SettingsError(f"{name}: expected a JSON object of class path -> object of keyword arguments")
    unknown = sorted(set(value) - set(paths))
    if unknown:
        raise SettingsError(f"{name}: {', '.join(unknown)} not listed in CRM_ALERT_NOTIFIERS")
    return value


def load_alert_settings() -> AlertSettings:
    """Read the alert settings from the environment.

    With nothing configured, alerts are logged (a WARNING line each) and nothing is sent.

    Raises:
        SettingsError: naming the variable and what is wrong with it.
    """
    notifier_paths = _notifier_paths("CRM_ALERT_NOTIFIERS")
    reject_threshold = _float("CRM_SYNC_QUARANTINE_THRESHOLD", 0.2, 0.0, 1.0)
    # Between this share and the reject threshold a batch publishes but alerts.
    quarantine_share = _float("CRM_ALERT_QUARANTINE_SHARE", min(0.05, reject_threshold / 2), 0.0, 1.0)
    if _text("CRM_ALERT_QUARANTINE_SHARE") and reject_threshold > 0 and quarantine_share >= reject_threshold:
        raise SettingsError(
            f"CRM_ALERT_QUARANTINE_SHARE={quarantine_share}: must be below "
            f"CRM_SYNC_QUARANTINE_THRESHOLD={reject_threshold} (above that the batch is rejected)"
        )
    return AlertSettings(
        email_to=_email_list("CRM_ALERT_EMAIL"),
        email_from=_text("CRM_ALERT_EMAIL_FROM"),
        smtp_conn_id=_text("CRM_ALERT_SMTP_CONN_ID") or "smtp_default",
        slack_webhook_conn_id=_text("CRM_ALERT_SLACK_WEBHOOK_CONN_ID"),
        notifier_paths=notifier_paths,
        notifier_kwargs=_notifier_kwargs("CRM_ALERT_NOTIFIER_KWARGS", notifier_paths),
        quarantine_share=quarantine_share,
        stale_intervals=_int("CRM_ALERT_STALE_INTERVALS", 2, 1, 1000),
    )
