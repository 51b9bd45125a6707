"""Alerts through Airflow's notifiers to a real SMTP server and a real HTTP webhook on loopback.

The SMTP server is aiosmtpd in a thread; the Slack webhook is a tiny HTTP server that records
the POST; the notifiers are the providers' own (SmtpNotifier, SlackWebhookNotifier),
unmodified, resolving their connections from ``AIRFLOW_CONN_*`` as any deployment may.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crm_sync import alerts
from crm_sync.alerts import Alert, send_alert
from crm_sync.settings import SettingsError, load_alert_settings
from devstack.postgres import find_free_port

RECIPIENTS = "data-team@example.com, oncall@example.com"
SENDER = "crm-sync@example.com"
SLACK_TOKEN = "T0001/B0002/not-a-real-webhook-secret"


class BrokenNotifier(alerts.BaseNotifier):
    """A notifier whose service is down: it always raises."""

    def __init__(self, reason: str = "the pager service is down") -> None:
        super().__init__()
        self.reason = reason

    def notify(self, context: Any) -> None:
        raise ConnectionError(self.reason)


BROKEN_NOTIFIER = "tests.integration.test_alerts.BrokenNotifier"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.received = threading.Condition()
        self.port = find_free_port()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.received:
            self.messages.append((list(envelope.rcpt_tos), message))
            self.received.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 20) -> list[tuple[list[str], EmailMessage]]:
        """Wait (bounded) until ``count`` messages arrived; return them."""
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            assert len(self.messages) >= count, f"{len(self.messages)} of {count} messages arrived"
            return list(self.messages)


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """aiosmtpd on loopback, ``smtp_default`` pointing at it, ``CRM_ALERT_EMAIL`` set."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, ready_timeout=10)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps({
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": SENDER,
                      "retry_limit": 0, "timeout": 10},
        }),
    )
    monkeypatch.setenv("CRM_ALERT_EMAIL", RECIPIENTS)
    for name in ("CRM_ALERT_SLACK_WEBHOOK_CONN_ID", "CRM_ALERT_NOTIFIERS", "CRM_ALERT_NOTIFIER_KWARGS",
                 "CRM_ALERT_EMAIL_FROM", "CRM_ALERT_SMTP_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield sink
    finally:
        controller.stop()


def _text_of(message: EmailMessage) -> str:
    """The message's body as a reader sees it (HTML tags dropped, entities decoded)."""
    part = message.get_body(preferencelist=("html", "plain"))
    assert part is not None, message
    return html.unescape(re.sub(r"<[^>]+>", "", part.get_content()))


# -- a real DAG run ----------------------------------------------------------------------

_ALERTING_DAG = '''
"""Test DAG: one task raises an in-task alert and succeeds, the next one fails."""
from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from crm_sync.alerts import dag_failure_callbacks, schema_drift, send_alert

with DAG(
    dag_id="crm_differential_widget__c",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["crm_sync", "differential", "Widget__c"],
    default_args={"retries": 0, "on_failure_callback": dag_failure_callbacks()},
) as dag:

    @task
    def extract() -> int:
        send_alert(schema_drift("Widget__c", missing=["Colour__c"], new=["Shade__c"],
                                changed={"Size__c": ("double", "string")}))
        return 1

    @task
    def validate(count: int) -> None:
        raise ValueError("No such column 'Colour__c' on entity 'Widget__c' {{ not a template }}")

    @task
    def load() -> None:
        class BatchRejected(RuntimeError):  # as crm_sync.pipeline raises it (matched by name)
            pass

        try:
            raise BatchRejected("31% of the batch failed row checks (limit 20%)")
        except BatchRejected as rejected:
            raise AirflowFailException(str(rejected)) from rejected

    validate(extract())
    load()
'''


def test_a_failing_task_and_an_in_task_alert_reach_the_smtp_server(
    stack_env: dict[str, str], smtp_sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow import settings
    from airflow.utils.state import DagRunState, TaskInstanceState

    # A broken notifier besides email: it must neither stop the email nor fail the task.
    monkeypatch.setenv("CRM_ALERT_NOTIFIERS", BROKEN_NOTIFIER)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alerting_dag.py").write_text(_ALERTING_DAG)
    # dag.test() syncs the dags folder to the metadata DB first and runs DAGs found there.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    namespace: dict[str, Any] = {"__name__": "alerting_dag"}
    exec(compile(_ALERTING_DAG, str(dags / "alerting_dag.py"), "exec"), namespace)

    dag_run = namespace["dag"].test()

    assert dag_run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"extract": TaskInstanceState.SUCCESS, "validate": TaskInstanceState.FAILED,
                      "load": TaskInstanceState.FAILED}
    received = smtp_sink.wait_for(3)
    assert len(received) == 3, [m["Subject"] for _, m in received]
    by_subject = {message["Subject"]: (rcpts, message) for rcpts, message in received}

    drift_subject = "[crm-sync] Schema drift: Widget__c: 1 mapped field gone, 1 changed type, 1 new field"
    rcpts, drift = by_subject[drift_subject]
    assert rcpts == ["data-team@example.com", "oncall@example.com"]
    assert drift["From"] == SENDER
    assert {a.strip() for a in drift["To"].split(",")} == {"data-team@example.com", "oncall@example.com"}
    body = _text_of(drift)
    assert "Mapped fields no longer in Salesforce: Colour__c." in body
    assert "Size__c (double -> string)" in body
    assert "DAG:    crm_differential_widget__c" in body
    assert f"Run:    {dag_run.run_id}" in body
    assert "What to do:" in body

    failure_subject = "[crm-sync] Sync failed: Widget__c: task validate failed in crm_differential_widget__c"
    rcpts, failure = by_subject[failure_subject]
    assert rcpts == ["data-team@example.com", "oncall@example.com"]
    body = _text_of(failure)
    assert "Task validate of DAG crm_differential_widget__c failed on try 1 of 1" in body
    assert f"in run {dag_run.run_id}" in body
    # The error in plain words, never rendered as a template.
    assert "Error: No such column 'Colour__c' on entity 'Widget__c' {{ not a template }} (ValueError)" in body
    assert "/dags/crm_differential_widget__c/runs/" in body and "/tasks/validate" in body
    assert "clear the failed task" in body

    # A batch rejected by validation alerts as such, with what to do about it.
    rcpts, rejected = by_subject["[crm-sync] Batch rejected: Widget__c: nothing was published"]
    body = _text_of(rejected)
    assert "The Widget__c batch was rejected by validation: 31% of the batch failed row checks" in body
    assert "Task load of DAG crm_differential_widget__c failed" in body
    assert f"Run:    {dag_run.run_id}" in body
    assert "clear the failed task (a differential's publish)" in body


def test_send_alert_outside_a_task_names_object_and_run(smtp_sink: SmtpSink) -> None:
    send_alert(alerts.batch_rejected("Contact", "31% of the batch failed row checks (limit 20%)",
                                     dag_id="crm_differential_contact", run_id="scheduled__2026-12-01T09:00:00+00:00"))

    [(rcpts, message)] = smtp_sink.wait_for(1)
    assert rcpts == ["data-team@example.com", "oncall@example.com"]
    assert message["Subject"] == "[crm-sync] Batch rejected: Contact: nothing was published"
    body = _text_of(message)
    assert "The Contact batch was rejected by validation: 31% of the batch failed row checks" in body
    assert "Run:    scheduled__2026-12-01T09:00:00+00:00" in body
    assert "clear the failed task (a differential's publish)" in body


def test_a_broken_notifier_logs_an_error_and_does_not_raise(
    smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CRM_ALERT_NOTIFIERS", BROKEN_NOTIFIER)
    monkeypatch.setenv("CRM_ALERT_NOTIFIER_KWARGS", json.dumps({BROKEN_NOTIFIER: {"reason": "pager unreachable"}}))
    alert = alerts.writeback_rejections("Lead", 2, 40, examples=[("m-17", "INVALID_EMAIL_ADDRESS: Email")],
                                        dag_id="crm_writeback", run_id="manual__1")
    assert alert is not None

    with caplog.at_level(logging.INFO, logger="crm_sync.alerts"):
        send_alert(alert)  # must not raise

    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "crm_sync.alerts"]
    assert len(errors) == 1, caplog.text
    assert BROKEN_NOTIFIER in errors[0].getMessage()
    assert "ConnectionError: pager unreachable" in errors[0].getMessage()
    # ...and the email still went out.
    [(_, message)] = smtp_sink.wait_for(1)
    assert message["Subject"] == "[crm-sync] Write-back rejections: Lead: 2 of 40 records rejected by Salesforce"
    assert "m-17: INVALID_EMAIL_ADDRESS: Email" in _text_of(message)


def test_an_unreachable_smtp_server_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = find_free_port()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": closed_port, "password": "smtp-secret-pw",
        "login": "alerts", "extra": {"disable_ssl": True, "disable_tls": True, "from_email": SENDER,
                                     "retry_limit": 0, "timeout": 5}}))
    monkeypatch.setenv("CRM_ALERT_EMAIL", "oncall@example.com")
    monkeypatch.delenv("CRM_ALERT_NOTIFIERS", raising=False)
    monkeypatch.delenv("CRM_ALERT_SLACK_WEBHOOK_CONN_ID", raising=False)

    with caplog.at_level(logging.INFO):
        send_alert(Alert("stale", "Account", "no successful sync for 3.0 h", "Account is behind."))

    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "crm_sync.alerts"]
    assert len(errors) == 1, caplog.text
    assert "email via connection smtp_default" in errors[0].getMessage()
    assert "smtp-secret-pw" not in caplog.text


def test_nothing_configured_logs_a_warning_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("CRM_ALERT_EMAIL", "CRM_ALERT_SLACK_WEBHOOK_CONN_ID", "CRM_ALERT_NOTIFIERS"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger="crm_sync.alerts"):
        send_alert(Alert("quarantine_high", "Contact", "12 of 100 records quarantined (12%)", "Many rows.",
                         run_id="manual__2"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines[0].startswith("CRM SYNC ALERT quarantine_high | [crm-sync] High quarantine: Contact:"), lines
    assert "run manual__2" in lines[0]
    assert "no alert notifier is configured" in lines[1]


# -- Slack ---------------------------------------------------------------------------------


class _WebhookRecorder(BaseHTTPRequestHandler):
    posts: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length", "0"))
        type(self).posts.append((self.path, json.loads(self.rfile.read(length))))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # keep the request log quiet
        return


@pytest.fixture
def slack_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_WebhookRecorder]]:
    """A loopback HTTP server standing in for hooks.slack.com; a ``slack_alerts`` connection to it."""
    _WebhookRecorder.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookRecorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps({
        "conn_type": "slackwebhook", "host": f"http://127.0.0.1:{server.server_port}/services",
        "password": SLACK_TOKEN, "extra": {"timeout": 10}}))
    monkeypatch.setenv("CRM_ALERT_SLACK_WEBHOOK_CONN_ID", "slack_alerts")
    for name in ("CRM_ALERT_EMAIL", "CRM_ALERT_NOTIFIERS", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield _WebhookRecorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_slack_webhook_notifier_posts_the_alert(
    slack_webhook: type[_WebhookRecorder], caplog: pytest.LogCaptureFixture
) -> None:
    alert = alerts.quarantine_high("Contact", 9, 100, settings=load_alert_settings(),
                                   dag_id="crm_differential_contact", run_id="scheduled__2026-12-01T10:00:00+00:00")
    assert alert is not None
    with caplog.at_level(logging.INFO):
        send_alert(alert)

    assert len(slack_webhook.posts) == 1, caplog.text
    path, payload = slack_webhook.posts[0]
    assert path == f"/services/{SLACK_TOKEN}"
    text = payload["text"]
    assert text.startswith("*[crm-sync] High quarantine: Contact: 9 of 100 records quarantined (9%)*")
    assert "DAG:    crm_differential_contact" in text
    assert "Run:    scheduled__2026-12-01T10:00:00+00:00" in text
    assert "9.0%), more than the alert share of 5%" in text
    assert "alert '[crm-sync] High quarantine" in caplog.text and "sent through Slack via connection slack_alerts" in caplog.text
    assert SLACK_TOKEN not in caplog.text and "not-a-real-webhook-secret" not in caplog.text


# -- settings and message helpers ------------------------------------------------------------


def test_alert_settings_are_validated_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ALERT_EMAIL", "ops@example.com, not-an-address")
    with pytest.raises(SettingsError, match="CRM_ALERT_EMAIL: 'not-an-address' is not an email address"):
        load_alert_settings()
    monkeypatch.setenv("CRM_ALERT_EMAIL", "ops@example.com")
    monkeypatch.setenv("CRM_ALERT_QUARANTINE_SHARE", "0.3")
    with pytest.raises(SettingsError, match="CRM_ALERT_QUARANTINE_SHARE=0.3: must be below CRM_SYNC_QUARANTINE_THRESHOLD"):
        load_alert_settings()
    monkeypatch.setenv("CRM_ALERT_QUARANTINE_SHARE", "0.1")
    monkeypatch.setenv("CRM_ALERT_STALE_INTERVALS", "0")
    with pytest.raises(SettingsError, match="CRM_ALERT_STALE_INTERVALS=0: must be between 1 and 1000"):
        load_alert_settings()
    monkeypatch.delenv("CRM_ALERT_STALE_INTERVALS")
    monkeypatch.setenv("CRM_ALERT_NOTIFIERS", "crm_sync.settings.Settings")
    with pytest.raises(SettingsError, match="CRM_ALERT_NOTIFIERS: 'crm_sync.settings.Settings' is not a BaseNotifier"):
        alerts.dag_failure_callbacks()
    monkeypatch.setenv("CRM_ALERT_NOTIFIERS", "no_such_module.Notifier")
    with pytest.raises(SettingsError, match="CRM_ALERT_NOTIFIERS: cannot import 'no_such_module.Notifier'"):
        alerts.dag_failure_callbacks()
    monkeypatch.setenv("CRM_ALERT_NOTIFIERS", BROKEN_NOTIFIER)
    monkeypatch.setenv("CRM_ALERT_NOTIFIER_KWARGS", "{not json")
    with pytest.raises(SettingsError, match="CRM_ALERT_NOTIFIER_KWARGS: not valid JSON"):
        load_alert_settings()
    monkeypatch.setenv("CRM_ALERT_NOTIFIER_KWARGS", json.dumps({"other.Notifier": {}}))
    with pytest.raises(SettingsError, match="other.Notifier not listed in CRM_ALERT_NOTIFIERS"):
        load_alert_settings()
    monkeypatch.delenv("CRM_ALERT_NOTIFIER_KWARGS")
    settings = load_alert_settings()
    assert (settings.email_to, settings.smtp_conn_id, settings.quarantine_share, settings.stale_intervals) == (
        ("ops@example.com",), "smtp_default", 0.1, 2)
    [callback] = alerts.dag_failure_callbacks()
    assert isinstance(callback, alerts.SyncFailureNotifier)


def test_helpers_return_none_when_nothing_is_wrong() -> None:
    from datetime import UTC, datetime, timedelta

    settings = load_alert_settings()
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert alerts.quarantine_high("Contact", 5, 100, settings=settings) is None  # 5% is not above 5%
    assert alerts.quarantine_high("Contact", 6, 100, settings=settings) is not None
    assert alerts.schema_drift("Contact") is None
    assert alerts.writeback_rejections("Lead", 0, 10) is None
    assert alerts.stale("Lead", now - 2 * hour, hour, now, settings=settings) is None
    stale = alerts.stale("Lead", now - 2 * hour - timedelta(minutes=1), hour, now, settings=settings)
    assert stale is not None and stale.title == "no successful sync for 2.0 h"
    assert alerts.stale("Lead", None, hour, now, settings=settings) is None
    with pytest.raises(alerts.AlertError, match="unknown alert kind 'oops'"):
        Alert("oops", "Lead", "t", "b")
