"""API accounting, the daily budget, session expiry and every injectable fault."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from emulator.launcher import REPO_ROOT


@pytest.fixture(scope="module")
def emu(launch):
    """A server of this module's own: faults and budgets here never disturb other tests."""
    return launch(records=2500, seed=3)


@pytest.fixture
def admin(emu):
    client = emu.admin()
    client.clear_faults()
    client.set_api_usage(0)
    yield client
    client.clear_faults()
    client.set_api_usage(0, 5_000_000)


def test_limit_info_header_tracks_usage(emu, admin, connect):
    sf = connect(emu)
    sf.query("SELECT Id FROM Account LIMIT 1")
    first = sf.api_usage["api-usage"]
    assert first.total == 5_000_000
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == first.used + 1
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 5_000_000 - first.used - 2


def test_every_call_is_counted_by_kind(emu, admin, connect):
    admin.reset_stats()
    sf = connect(emu)
    pages = [sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 2100")]
    pages.append(sf.query_more(pages[0]["nextRecordsUrl"], identifier_is_url=True))
    sf.Contact.describe()
    results = list(sf.bulk2.Contact.query("SELECT Id FROM Contact LIMIT 25", max_records=10, wait=0))
    assert len(results) == 3
    stats = admin.stats()
    assert stats["by_kind"] == {"login": 1, "query": 1, "query_more": 1, "describe": 1, "bulk2_query": 1,
                                "bulk2_query_status": 1, "bulk2_query_results": 3}
    assert stats["api_calls"] == 9
    assert admin.stats()["api_calls"] == 9  # admin calls are free


def test_budget_exhaustion_and_recovery(emu, admin, connect):
    sf = connect(emu)
    admin.set_api_usage(10, max=12)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 12, "Remaining": 1}
    assert sf.api_usage["api-usage"].used == 11
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert info.value.status == 403
    assert info.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    with pytest.raises(SalesforceRefusedRequest):
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))
    assert admin.stats()["api_usage"] == {"used": 12, "max": 12, "day": admin.stats()["api_usage"]["day"]}
    admin.set_api_usage(0)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_latency(emu, admin, connect):
    sf = connect(emu)
    admin.set_faults(latency_ms=300)
    started = time.monotonic()
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert time.monotonic() - started >= 0.3
    admin.clear_faults()
    started = time.monotonic()
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert time.monotonic() - started < 0.3


def test_server_errors(emu, admin, connect):
    sf = connect(emu)
    admin.set_faults(error_next=2, error_status=503)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as info:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert info.value.status == 503
        assert info.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    admin.set_faults(error_next=1, error_status=500)
    with pytest.raises(SalesforceGeneralError) as info:
        sf.Contact.describe()
    assert (info.value.status, info.value.content[0]["errorCode"]) == (500, "UNKNOWN_EXCEPTION")
    assert admin.get_faults()["injected"]["server_error"] >= 3


def test_fault_rates_are_deterministic_for_a_seed(emu, admin, connect):
    sf = connect(emu)

    def pattern() -> list[str]:
        admin.set_faults(seed=11, error_rate=0.5)
        outcome = []
        for _ in range(24):
            try:
                sf.query("SELECT Id FROM Account LIMIT 1")
                outcome.append("ok")
            except SalesforceGeneralError as exc:
                outcome.append(str(exc.status))
        return outcome

    first = pattern()
    assert pattern() == first
    assert {"ok", "500", "503"} <= set(first)


def test_dropped_rest_page_then_retry(emu, admin, connect):
    sf = connect(emu)
    first = sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 2400",
                     headers={"Sforce-Query-Options": "batchSize=1000"})
    admin.set_faults(drop_next=1)
    with pytest.raises(requests.exceptions.RequestException):
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    ids = [r["Id"] for page in (first, second, third) for r in page["records"]]
    assert [len(p["records"]) for p in (first, second, third)] == [1000, 1000, 400]
    assert len(ids) == len(set(ids)) == 2400
    assert admin.get_faults()["injected"]["dropped_page"] == 1


def test_dropped_bulk_page_then_retry(emu, admin, connect):
    sf = connect(emu)
    client = sf.bulk2.Contact._client
    job = client.create_job("query", "SELECT Id, Email, Title FROM Contact")
    client.wait_for_job(job["id"], True, 0)
    admin.set_faults(drop_next=1)
    with pytest.raises(requests.exceptions.RequestException):
        client.get_query_results(job["id"], "", 1000)
    page = client.get_query_results(job["id"], "", 1000)
    assert page["number_of_records"] == 1000
    assert len(list(csv.reader(io.StringIO(page["records"])))) == 1001


def test_expired_sessions_trigger_client_relogin(emu, admin, connect):
    sf = connect(emu)
    sf.query("SELECT Id FROM Account LIMIT 1")
    old = sf.session_id
    admin.reset_stats()
    admin.expire_sessions()
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    assert sf.session_id != old
    assert admin.stats()["by_kind"]["login"] == 1
    admin.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):  # Bulk 2.0 calls do not re-login in simple-salesforce
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))


def test_session_ttl(emu, admin, connect):
    sf = connect(emu)
    admin.set_faults(session_ttl_s=0.5)
    old = sf.session_id
    time.sleep(0.7)
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    assert sf.session_id != old


def test_failed_bulk_query_job(emu, admin, connect):
    sf = connect(emu)
    admin.set_faults(bulk_fail_next=1)
    with pytest.raises(SalesforceOperationError) as info:
        list(sf.bulk2.Contact.query("SELECT Id FROM Contact", wait=0))
    assert "emulated fault" in str(info.value)
    assert sum(1 for _ in sf.bulk2.Contact.query("SELECT Id FROM Contact LIMIT 5", wait=0)) == 1


def test_failed_ingest_job_leaves_rest_unprocessed(emu, admin, connect):
    sf = connect(emu)
    client = sf.bulk2.Contact._client
    admin.set_faults(bulk_fail_next=1)
    job = client.create_job("insert")
    client.upload_job_data(job["id"], "LastName\n" + "".join(f"Half{i}\n" for i in range(10)))
    client.close_job(job["id"])
    info = client.get_job(job["id"], False)
    assert info["state"] == "Failed" and "emulated fault" in info["errorMessage"]
    assert info["numberRecordsProcessed"] == 5
    done = csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(job["id"])))
    rest = csv.DictReader(io.StringIO(sf.bulk2.Contact.get_unprocessed_records(job["id"])))
    assert [r["LastName"] for r in done] == [f"Half{i}" for i in range(5)]
    assert [r["LastName"] for r in rest] == [f"Half{i}" for i in range(5, 10)]


def test_unable_to_lock_row(emu, admin, connect):
    sf = connect(emu)
    admin.set_faults(lock_next=1)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.create({"LastName": "Locked"})
    assert info.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Contact.create({"LastName": "Unlocked"})["success"] is True
    admin.set_faults(lock_next=2)
    result = sf.bulk2.Contact.insert(records=[{"LastName": f"Row{i}"} for i in range(5)], wait=0)
    assert result[0]["numberRecordsFailed"] == 2
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result[0]["job_id"]))))
    assert all(r["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access") for r in failed)


def test_faults_cli(emu, admin):
    base = [sys.executable, "-m", "emulator", "faults", "--url", emu.url, "--cert", str(emu.cert_path)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    done = run("set", "latency_ms=5", "error_rate=0.25", "seed=3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["error_rate"] == 0.25
    assert json.loads(run("show").stdout)["latency_ms"] == 5
    assert json.loads(run("clear").stdout)["error_rate"] == 0.0
    bad = run("set", "nonsense=1")
    assert bad.returncode == 2 and "unknown fault setting" in bad.stderr
