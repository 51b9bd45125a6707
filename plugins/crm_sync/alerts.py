"""Alerts: tell people when a sync fails, rejects a batch, quarantines a lot, drifts or stalls.

Alerts go out through Airflow's notifier mechanism (``BaseNotifier``): the SMTP and Slack
incoming-webhook notifiers of the official providers, and any notifier class named in the
settings (``crm_sync.settings.load_alert_settings``). Two entry points:

* :func:`dag_failure_callbacks` gives the ``on_failure_callback`` list of every DAG (put it in
  ``default_args``): a task that fails for good alerts with the DAG, task, run, try number,
  the error in plain words and a link to its log.
* :func:`send_alert` sends an :class:`Alert` raised by a task that does not fail (a high
  quarantine share, schema drift, rejected write-backs, a stale object). The helpers
  :func:`batch_rejected`, :func:`quarantine_high`, :func:`schema_drift`, :func:`stale` and
  :func:`writeback_rejections` build them with consistent wording.

Every alert is logged as one WARNING line, whether or not a notifier is configured; with none
configured nothing is sent. A notifier that fails is logged as an error and never fails the
task that raised the alert. Notifiers are built anew for each alert, because Airflow renders a
notifier's template fields in place.

A custom notifier (``CRM_ALERT_NOTIFIERS``) receives the usual Airflow context plus
``crm_alert`` (the :class:`Alert`), ``crm_alert_subject`` and ``crm_alert_text`` (plain text),
``crm_alert_html`` (an HTML body) and ``crm_alert_slack`` (Slack ``mrkdwn``).
"""

from __future__ import annotations

import html
import importlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from crm_sync.settings import ALERT_KINDS, AlertSettings, SettingsError, load_alert_settings

log = logging.getLogger(__name__)

#: How each kind is named in subjects and messages.
KIND_LABELS: dict[str, str] = {
    "failure": "Sync failed",
    "batch_rejected": "Batch rejected",
    "quarantine_high": "High quarantine",
    "schema_drift": "Schema drift",
    "stale": "Sync stale",
    "writeback_rejections": "Write-back rejections",
}

#: What to do, per kind, when an alert does not say more precisely.
DEFAULT_ACTIONS: dict[str, str] = {
    "failure": (
        "Open the task log (link above) and fix the cause, then clear the failed task in the "
        "Airflow UI to re-run it: every step is idempotent and the watermark only moves in "
        "finalize. docs/operations.md, 'When a run fails', lists the usual causes."
    ),
    "batch_rejected": (
        "Nothing was published and the watermark did not move. Look at the batch's rows in "
        "crm_quarantine.records (reasons per row), fix the cause (often a mapping or value map "
        "out of date with Salesforce), then clear the failed task (a differential's publish): "
        "it re-validates the same batch."
    ),
    "quarantine_high": (
        "The batch was published without its quarantined rows. Look at the open rows in "
        "crm_quarantine.records grouped by reason; fix the records in Salesforce or the mapping "
        "(value maps, checks), then replay them."
    ),
    "schema_drift": (
        "Compare the mapping file with the object in Salesforce: a mapped field that is gone "
        "must be removed or renamed in the mapping; a new field can be mapped if you want it "
        "(then run crm_full_sync for that object); a changed type may need a new transform or check."
    ),
    "stale": (
        "Check that the DAG is unpaused and that the scheduler runs; look at its latest runs: "
        "failed, skipped (a full sync holds the lock) or still queued (pool slots)."
    ),
    "writeback_rejections": (
        "Salesforce refused these records; the others were written. Read the errors in "
        "crm_sync.writeback_results (outcome = 'failed'), fix the data or the field's "
        "permissions in Salesforce or the marketing row; the change is retried by the next write-back."
    ),
}

#: A task failing with an exception of this class name (or caused by one) alerts as
#: ``batch_rejected`` instead of ``failure`` (``crm_sync.pipeline.BatchRejected``).
BATCH_REJECTED_EXCEPTION = "BatchRejected"

_MAX_ERROR_CHARS = 2000
_MAX_LISTED = 20


class AlertError(ValueError):
    """An alert cannot be built as asked (unknown kind, empty title)."""


@dataclass(frozen=True)
class Alert:
    """One alert: what happened to which object, in which run, and what to do.

    Attributes:
        kind: One of ``failure``, ``batch_rejected``, ``quarantine_high``, ``schema_drift``,
            ``stale``, ``writeback_rejections``.
        object: The Salesforce object concerned (``Contact``), or a DAG id when none is.
        title: One line, for the subject.
        body: What happened, in plain words (may span lines).
        dag_id: The DAG; filled from the running task when left out.
        run_id: The Airflow run; filled from the running task when left out.
        action: What to do; the kind's default (:data:`DEFAULT_ACTIONS`) when left out.
        url: A link for the reader (the task log for failures).
    """

    kind: str
    object: str
    title: str
    body: str
    dag_id: str | None = None
    run_id: str | None = None
    action: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise AlertError(f"unknown alert kind {self.kind!r}; expected one of {', '.join(ALERT_KINDS)}")
        if not self.title.strip():
            raise AlertError("an alert needs a title")

    @property
    def subject(self) -> str:
        """The one-line subject: ``[crm-sync] Batch rejected: Contact: <title>``."""
        return f"[crm-sync] {KIND_LABELS[self.kind]}: {self.object}: {self.title.strip()}"

    def text(self) -> str:
        """The message body as plain text: what happened, where, and what to do."""
        lines = [self.body.strip(), ""]
        lines.append(f"Object: {self.object}")
        lines.append(f"DAG:    {self.dag_id or '-'}")
        lines.append(f"Run:    {self.run_id or '-'}")
        if self.url:
            lines.append(f"Link:   {self.url}")
        lines += ["", f"What to do: {self.action or DEFAULT_ACTIONS[self.kind]}"]
        return "\n".join(lines)

    def html(self) -> str:
        """The message body as HTML (every value escaped)."""
        return (
            f"<h3>{html.escape(self.subject)}</h3>\n"
            f'<pre style="font-family: inherit; white-space: pre-wrap">{html.escape(self.text(), quote=False)}</pre>'
        )

    def slack(self) -> str:
        """The message as Slack ``mrkdwn`` (``&``, ``<`` and ``>`` escaped, as Slack requires)."""

        def esc(value: str) -> str:
            return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        text = f"*{esc(self.subject)}*\n{esc(self.text())}"
        return text if not self.url else text.replace(esc(self.url), f"<{self.url}|{esc(self.url)}>")


# -- building alerts ---------------------------------------------------------------------


def _listed(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def batch_rejected(
    object_name: str, reason: str, *, dag_id: str | None = None, run_id: str | None = None
) -> Alert:
    """A batch failed validation as a whole: nothing was published.

    Args:
        object_name: The Salesforce object.
        reason: Why, in plain words (the ``BatchRejected`` message).
        dag_id: The DAG (default: the running task's).
        run_id: The Airflow run (default: the running task's).
    """
    return Alert(
        "batch_rejected",
        object_name,
        "nothing was published",
        f"The {object_name} batch was rejected by validation: {reason.strip()}",
        dag_id=dag_id,
        run_id=run_id,
    )


def quarantine_high(
    object_name: str,
    quarantined: int,
    total: int,
    *,
    settings: AlertSettings | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> Alert | None:
    """An alert when a batch quarantined more than ``CRM_ALERT_QUARANTINE_SHARE`` of its rows.

    Call it after validation with the batch's counts; below the share it returns ``None``.
    (Above ``CRM_SYNC_QUARANTINE_THRESHOLD`` the batch is rejected instead: use
    :func:`batch_rejected`.)

    Args:
        object_name: The Salesforce object.
        quarantined: Rows quarantined in this batch.
        total: Rows validated in this batch.
        settings: Alert settings (default: read from the environment).
        dag_id: The DAG (default: the running task's).
        run_id: The Airflow run (default: the running task's).
    """
    share = (settings or load_alert_settings()).quarantine_share
    if total <= 0 or quarantined / total <= share:
        return None
    return Alert(
        "quarantine_high",
        object_name,
        f"{quarantined} of {total} records quarantined ({quarantined / total:.0%})",
        f"The {object_name} batch quarantined {quarantined} of {total} records "
        f"({quarantined / total:.1%}), more than the alert share of {share:.0%} "
        "(CRM_ALERT_QUARANTINE_SHARE). The other records were published.",
        dag_id=dag_id,
        run_id=run_id,
    )


def schema_drift(
    object_name: str,
    *,
    missing: Sequence[str] = (),
    new: Sequence[str] = (),
    changed: Mapping[str, tuple[str, str]] | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> Alert | None:
    """Salesforce's description of the object no longer matches the mapping.

    Args:
        object_name: The Salesforce object.
        missing: Mapped fields Salesforce no longer has.
        new: Fields Salesforce has that the mapping does not map (new since the last run).
        changed: Mapped fields whose type changed: field -> (type before, type now).
        dag_id: The DAG (default: the running task's).
        run_id: The Airflow run (default: the running task's).

    Returns:
        The alert, or ``None`` when nothing drifted.
    """
    changed = dict(changed or {})
    if not (missing or new or changed):
        return None
    parts = []
    lines = []
    if missing:
        parts.append(f"{len(missing)} mapped field{'s' * (len(missing) != 1)} gone")
        lines.append(f"Mapped fields no longer in Salesforce: {_listed(missing)}.")
    if changed:
        parts.append(f"{len(changed)} changed type{'s' * (len(changed) != 1)}")
        lines.append(
            "Mapped fields whose type changed: "
            + _listed(f"{field} ({before} -> {now})" for field, (before, now) in sorted(changed.items()))
            + "."
        )
    if new:
        parts.append(f"{len(new)} new field{'s' * (len(new) != 1)}")
        lines.append(f"New fields, not mapped: {_listed(new)}.")
    return Alert(
        "schema_drift",
        object_name,
        ", ".join(parts),
        f"Salesforce's {object_name} differs from the mapping file {object_name.lower()}.yaml.\n"
        + "\n".join(lines),
        dag_id=dag_id,
        run_id=run_id,
    )


def stale(
    object_name: str,
    last_success: datetime | None,
    interval: timedelta,
    now: datetime,
    *,
    settings: AlertSettings | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> Alert | None:
    """An alert when an object had no successful run for ``CRM_ALERT_STALE_INTERVALS`` intervals.

    Args:
        object_name: The Salesforce object.
        last_success: When its last successful run ended (``None``: never).
        interval: Its schedule interval.
        now: The time to judge by (the checking run's start, not ``datetime.now()`` in SQL).
        settings: Alert settings (default: read from the environment).
        dag_id: The object's DAG.
        run_id: The run that checked (default: the running task's).

    Returns:
        The alert, or ``None`` while the object is not stale. An object that never succeeded
        is not judged (its first run may still be under way).
    """
    intervals = (settings or load_alert_settings()).stale_intervals
    if last_success is None or now - last_success <= intervals * interval:
        return None
    hours = (now - last_success).total_seconds() / 3600
    return Alert(
        "stale",
        object_name,
        f"no successful sync for {hours:.1f} h",
        f"{object_name} last synced successfully at {last_success.isoformat(timespec='seconds')}, "
        f"{hours:.1f} hours ago: more than {intervals} intervals of {interval} "
        "(CRM_ALERT_STALE_INTERVALS). Marketing may be missing Salesforce's latest changes.",
        dag_id=dag_id,
        run_id=run_id,
    )


def writeback_rejections(
    object_name: str,
    rejected: int,
    attempted: int,
    *,
    examples: Sequence[tuple[str, str]] = (),
    dag_id: str | None = None,
    run_id: str | None = None,
) -> Alert | None:
    """Salesforce rejected records of a write-back.

    Args:
        object_name: The Salesforce object written.
        rejected: Records Salesforce rejected.
        attempted: Records the write-back sent.
        examples: A few ``(record, error)`` pairs to quote (Salesforce Id or marketing id).
        dag_id: The DAG (default: the running task's).
        run_id: The Airflow run (default: the running task's).

    Returns:
        The alert, or ``None`` when nothing was rejected.
    """
    if rejected <= 0:
        return None
    body = f"Salesforce rejected {rejected} of {attempted} {object_name} records of this write-back."
    if examples:
        body += "\n" + "\n".join(f"  {record}: {error}" for record, error in list(examples)[:_MAX_LISTED])
    return Alert(
        "writeback_rejections",
        object_name,
        f"{rejected} of {attempted} records rejected by Salesforce",
        body,
        dag_id=dag_id,
        run_id=run_id,
    )


def _plain_error(error: BaseException | str | None) -> str:
    """The error in plain words: its message (and its cause's), not a traceback."""
    if error is None:
        return (
            "No exception was recorded: the task may have been killed, timed out, or marked "
            "failed by hand."
        )
    if isinstance(error, str):
        text = error.strip()
    else:
        message = str(error).strip()
        name = type(error).__name__
        # AirflowFailException and friends only carry a message; others are named.
        text = message if name.startswith("Airflow") and message else f"{message or 'no message'} ({name})"
        cause = error.__cause__
        if cause is not None and str(cause).strip() and str(cause).strip() not in text:
            text += f"\nCaused by: {str(cause).strip()} ({type(cause).__name__})"
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + " …"


def _object_of(dag: Any, dag_id: str) -> str:
    """The object a DAG syncs: a tag equal to its ``crm_differential_`` suffix, else the DAG id."""
    prefix = "crm_differential_"
    if dag_id.startswith(prefix):
        suffix = dag_id[len(prefix) :]
        for tag in getattr(dag, "tags", None) or ():
            if str(tag).lower() == suffix:
                return str(tag)
        return suffix
    return dag_id


def failure_alert(context: Mapping[str, Any]) -> Alert:
    """The ``failure`` alert of a task (or DAG run) failure callback's Airflow context."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or "unknown DAG"
    run_id = context.get("run_id") or getattr(ti, "run_id", None)
    if ti is not None:
        task = ti.task_id
        map_index = getattr(ti, "map_index", -1)
        if map_index is not None and map_index >= 0:
            task += f"[{map_index}]"
        try_number = getattr(ti, "try_number", None)
        max_tries = getattr(ti, "max_tries", None)
        tries = f"try {try_number}" + (f" of {max_tries + 1}" if isinstance(max_tries, int) else "")
        if isinstance(max_tries, int) and max_tries > 0:
            tries += f" (its last: {max_tries} retr{'ies' if max_tries != 1 else 'y'} were used)"
        body = (
            f"Task {task} of DAG {dag_id} failed on {tries}, in run {run_id}.\n"
            f"Error: {_plain_error(context.get('exception'))}"
        )
        title = f"task {task} failed in {dag_id}"
        try:
            url = ti.log_url
        except Exception as exc:  # a log link is a convenience; the alert goes out without it
            log.debug("no log link for %s: %s", task, exc)
            url = None
    else:  # a DAG-level callback: the run failed
        reason = context.get("reason") or "a task failed"
        body = f"Run {run_id} of DAG {dag_id} failed: {reason}."
        title = f"run of {dag_id} failed"
        url = None
    object_name = _object_of(dag, dag_id)
    rejected = _batch_rejection(context.get("exception"))
    if rejected is not None:  # validation refused the batch: say so, and what to do about it
        alert = batch_rejected(object_name, str(rejected), dag_id=dag_id, run_id=run_id)
        return replace(alert, body=alert.body + "\n" + body.split("\n", 1)[0], url=url)
    return Alert("failure", object_name, title, body, dag_id=dag_id, run_id=run_id, url=url)


def _batch_rejection(error: BaseException | str | None) -> BaseException | None:
    """The ``BatchRejected`` in ``error``'s chain (matched by class name), if any."""
    seen = 0
    while isinstance(error, BaseException) and seen < 10:
        if type(error).__name__ == BATCH_REJECTED_EXCEPTION:
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


# -- sending -----------------------------------------------------------------------------


def _notifier_class(path: str) -> type[BaseNotifier]:
    module_name, _, class_name = path.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"CRM_ALERT_NOTIFIERS: cannot import {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
        raise SettingsError(f"CRM_ALERT_NOTIFIERS: {path!r} is not a BaseNotifier subclass")
    return cls


def check_alert_settings(settings: AlertSettings | None = None) -> AlertSettings:
    """Validate the alert settings, custom notifier classes included.

    Raises:
        SettingsError: naming the variable at fault.
    """
    settings = settings or load_alert_settings()
    for path in settings.notifier_paths:
        _notifier_class(path)
    return settings


def build_notifiers(settings: AlertSettings) -> list[tuple[str, BaseNotifier]]:
    """Fresh notifier instances for one alert, each with a name for the logs.

    The message comes from the context (``crm_alert_subject``, ``crm_alert_html``,
    ``crm_alert_slack``): the notifiers' templates only reference it, so nothing in an error
    message is ever rendered as a template.

    Raises:
        Exception: whatever a notifier's constructor raises (:func:`send_alert` logs it).
    """
    notifiers: list[tuple[str, BaseNotifier]] = []
    if settings.email_to:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append((
            f"email via connection {settings.smtp_conn_id}",
            SmtpNotifier(
                to=list(settings.email_to),
                from_email=settings.email_from,
                smtp_conn_id=settings.smtp_conn_id,
                subject="{{ crm_alert_subject }}",
                html_content="{{ crm_alert_html }}",
            ),
        ))
    if settings.slack_webhook_conn_id:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        notifiers.append((
            f"Slack via connection {settings.slack_webhook_conn_id}",
            SlackWebhookNotifier(slack_webhook_conn_id=settings.slack_webhook_conn_id, text="{{ crm_alert_slack }}"),
        ))
    for path in settings.notifier_paths:
        notifiers.append((path, _notifier_class(path)(**settings.notifier_kwargs.get(path, {}))))
    return notifiers


def _running_task_context() -> Mapping[str, Any] | None:
    from airflow.sdk import get_current_context

    try:
        return get_current_context()
    except RuntimeError:  # not inside a running task
        return None


def _deliver(alert: Alert, context: Mapping[str, Any], settings: AlertSettings | None) -> int:
    """Log ``alert`` and send it through every configured notifier; return how many sent it."""
    log.warning("CRM SYNC ALERT %s | %s | DAG %s | run %s", alert.kind, alert.subject, alert.dag_id or "-",
                alert.run_id or "-")
    try:
        settings = settings or check_alert_settings()
        notifiers = build_notifiers(settings)
    except Exception as exc:
        log.error("alert %r was not sent: the alert notifiers cannot be set up: %s", alert.subject, exc)
        return 0
    if not notifiers:
        log.warning(
            "no alert notifier is configured (CRM_ALERT_EMAIL, CRM_ALERT_SLACK_WEBHOOK_CONN_ID, "
            "CRM_ALERT_NOTIFIERS): the alert above was only logged"
        )
        return 0
    message = dict(context)
    message.update(
        crm_alert=alert,
        crm_alert_subject=alert.subject,
        crm_alert_text=alert.text(),
        crm_alert_html=alert.html(),
        crm_alert_slack=alert.slack(),
    )
    sent = 0
    for name, notifier in notifiers:
        try:
            notifier(dict(message))
        except Exception as exc:
            log.error("alert %r was not sent through %s: %s: %s", alert.subject, name, type(exc).__name__, exc)
        else:
            sent += 1
            log.info("alert %r sent through %s", alert.subject, name)
    return sent


def send_alert(alert: Alert, *, settings: AlertSettings | None = None) -> None:
    """Send an alert through the configured notifiers; never raises for a notifier's failure.

    Call it from inside a task: the DAG and run default to the running task's, and the
    notifiers get its Airflow context. Outside a task it works too, with a minimal context.

    Args:
        alert: What to send.
        settings: Alert settings (default: read from the environment).

    A notifier that fails is logged as an error (naming it) and the others still send.
    """
    context = _running_task_context()
    if context is not None:
        dag_run = context.get("dag_run")
        alert = replace(
            alert,
            dag_id=alert.dag_id or getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
            run_id=alert.run_id or context.get("run_id"),
        )
    _deliver(alert, context or {"run_id": alert.run_id}, settings)


class SyncFailureNotifier(BaseNotifier):
    """Failure callback of the sync's DAGs: sends the ``failure`` alert of the failed task.

    Use through :func:`dag_failure_callbacks`. It works as a task callback (in
    ``default_args``: DAG, task, run, try number, error and log link) and as a DAG-level
    callback (the run and the reason).
    """

    def notify(self, context: Any) -> None:
        """Build the failure alert from ``context`` and send it; failures are logged, not raised."""
        try:
            alert = failure_alert(context)
        except Exception as exc:
            log.error("the failure alert could not be built: %s: %s", type(exc).__name__, exc)
            return
        _deliver(alert, context, None)


def dag_failure_callbacks() -> list[BaseNotifier]:
    """The ``on_failure_callback`` list for the sync's DAGs.

    Put it in ``default_args`` (one alert per task that fails after its retries; passing it
    at DAG level as well would alert twice). The alert settings are validated here, so a
    misconfiguration shows as the DAG file's import error.

    Raises:
        SettingsError: an alert setting is invalid (the variable is named).
    """
    check_alert_settings()
    return [SyncFailureNotifier()]
