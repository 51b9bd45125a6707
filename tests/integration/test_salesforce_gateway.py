"""The Salesforce gateway against the emulator over HTTPS: retries, re-login, budget, permanent errors."""

from __future__ import annotations

import json
import os

import pytest

from crm_sync.dag_support import airflow_outcome
from crm_sync.salesforce import (
    ApiBudget,
    BudgetExhausted,
    RetryPolicy,
    SalesforceGateway,
    SalesforceLoginFailed,
    SalesforceUnreachable,
)

QUICK = RetryPolicy(max_attempts=4, retry_seconds=0.01)


def _gateway(**kwargs) -> SalesforceGateway:
    return SalesforceGateway("salesforce_default", retry=QUICK, **kwargs)


def test_transient_errors_are_retried_and_every_call_counted(emulator) -> None:
    admin = emulator.admin()
    admin.set_faults(error_next=2, error_status=503)
    try:
        sf = _gateway()
        assert sf.count("SELECT COUNT() FROM Account") == admin.count("Account", include_deleted=True)
    finally:
        admin.clear_faults()
    assert sf.api_calls == 1 + 3  # the login, then two refused attempts and the one that answered


def test_a_page_cut_mid_answer_is_read_again_whole(emulator) -> None:
    admin = emulator.admin()
    expected = sorted(r["Id"] for r in _gateway().query_records("SELECT Id FROM Contact", include_deleted=True))
    before = admin.stats()["faults_injected"].get("dropped_page", 0)  # the session's emulator counts on
    admin.set_faults(drop_next=2)
    try:
        sf = _gateway()
        pages = list(sf.iter_rest_pages("SELECT Id FROM Contact"))
        dropped = admin.stats()["faults_injected"].get("dropped_page", 0) - before
    finally:
        admin.clear_faults()
    assert dropped == 2
    assert sorted(r["Id"] for page in pages for r in page) == expected  # nothing lost, nothing twice


def test_an_expired_session_logs_in_again_and_keeps_the_count(emulator) -> None:
    admin = emulator.admin()
    sf = _gateway()
    sf.count("SELECT COUNT() FROM Lead")
    logins = admin.stats()["by_kind"]["login"]
    admin.expire_sessions()
    assert sf.count("SELECT COUNT() FROM Lead") > 0
    assert admin.stats()["by_kind"]["login"] == logins + 1
    assert sf.api_calls == 5  # login, count, refused count, login, count
    admin.expire_sessions()  # Bulk API calls need the gateway's own re-login
    job = sf.start_bulk_query("Lead", "SELECT Id FROM Lead")
    sf.wait_for_bulk_query("Lead", job)
    assert admin.stats()["by_kind"]["login"] == logins + 2


def test_a_wrong_password_fails_at_once_naming_the_connection(emulator, monkeypatch) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(conn | {"password": "wrong"}))
    admin = emulator.admin()
    before = admin.stats()["by_kind"].get("login", 0)
    with pytest.raises(SalesforceLoginFailed, match="Airflow connection 'salesforce_default'.*not retried"):
        _gateway().count("SELECT COUNT() FROM Account")
    assert admin.stats()["by_kind"]["login"] == before + 1
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException), airflow_outcome():  # the task fails without retries
        _gateway().count("SELECT COUNT() FROM Account")


def test_an_unreachable_org_is_said_in_those_words(emulator, monkeypatch) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    conn["extra"]["domain"] = "127.0.0.1:9/login"  # nothing listens on the discard port
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(conn))
    with pytest.raises(SalesforceUnreachable, match=r"Salesforce unreachable: could not connect to 127\.0\.0\.1:9"):
        _gateway().count("SELECT COUNT() FROM Account")


def test_a_call_past_the_budget_is_never_sent(emulator) -> None:
    admin = emulator.admin()
    usage = admin.stats()["api_usage"]
    admin.set_api_usage(usage["max"] - 6)  # the share (50%) of what is left after the login: 3 calls
    try:
        sf = _gateway(budget=ApiBudget(0.5))
        sf.count("SELECT COUNT() FROM Account")
        sf.count("SELECT COUNT() FROM Account")
        sent = admin.stats()["api_calls"]
        with pytest.raises(BudgetExhausted, match="API budget"):
            sf.count("SELECT COUNT() FROM Account")
        assert admin.stats()["api_calls"] == sent and sf.api_calls == 3
    finally:
        admin.set_api_usage(usage["used"])
