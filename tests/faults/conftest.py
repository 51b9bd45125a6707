"""Fixtures of the fault and dirty-data suite: small orgs of their own, fresh databases per test.

The suite's orgs are small (a few hundred Contacts) so that every scenario can afford full
syncs and the independent checker's full reads. Each org is its own emulator; the DAGs reach
it through the usual ``salesforce_default`` connection, pointed at it for the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import SyncStack, _postgres_conn, assert_balanced  # noqa: F401  (fixture)
from tests.faults.checker import Drift, check, salesforce_client
from tests.fixtures.databases import fresh_databases  # noqa: F401  (fixture)

ORG_RECORDS = 300


def start_org(directory: Path, seed: int, records: int = ORG_RECORDS) -> Any:
    """Start an emulator with a fresh org of ``records`` Contacts (and the rest in proportion)."""
    from emulator.launcher import start_emulator

    return start_emulator(directory, records=records, seed=seed, log_path=directory.parent / f"{directory.name}.log")


def _salesforce_conn(handle: Any) -> str:
    return json.dumps({"conn_type": "salesforce", "login": "etl@example.com", "password": "emulator-password",
                       "extra": {"security_token": "emulator-token", "domain": handle.login_domain,
                                 "version": "59.0"}})


class FaultStack(SyncStack):
    """A :class:`SyncStack` with the independent checker at hand."""

    def drift(self, objects: list[str] | None = None) -> list[Drift]:
        """What the checker finds (faults cleared first, so its own reads are clean)."""
        self.admin.clear_faults()
        return check(salesforce_client(self.emulator.port), self.databases.warehouse, self.databases.marketing,
                     objects)

    def assert_no_drift(self, objects: list[str] | None = None) -> None:
        """Fail with every drift item, one per line."""
        found = self.drift(objects)
        assert not found, f"{len(found)} drift items:\n" + "\n".join(str(d) for d in found[:60])


def make_stack(org: Any, databases: Any, monkeypatch: pytest.MonkeyPatch, base_dir: Path) -> FaultStack:
    """Point the sync's connections at ``org`` and ``databases`` for one test."""
    bundle = base_dir / f"ca-{org.port}.pem"
    if not bundle.exists():
        import os

        certs = [Path(org.cert_path).read_text()]
        other = os.environ.get("REQUESTS_CA_BUNDLE")
        if other and Path(other).is_file():
            certs.append(Path(other).read_text())
        bundle.write_text("\n".join(certs))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", _salesforce_conn(org))
    monkeypatch.setenv("AIRFLOW_CONN_CRM_WAREHOUSE", _postgres_conn(databases.warehouse))
    monkeypatch.setenv("AIRFLOW_CONN_MARKETING_DB", _postgres_conn(databases.marketing))
    monkeypatch.setenv("CRM_SYNC_SAFETY_LAG_SECONDS", "0")
    monkeypatch.setenv("CRM_SYNC_TASK_RETRIES", "0")
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.05")
    org.admin().clear_faults()
    return FaultStack(databases, org)


@pytest.fixture(scope="package")
def fault_org(stack_env, test_stack) -> Iterator[Any]:
    """The scenarios' org (300 Contacts, seed 21), shared by the package's scenario tests."""
    handle = start_org(test_stack.base_dir / "faults-org", seed=21)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def fault_stack(stack_env, fault_org, fresh_databases, monkeypatch, test_stack) -> FaultStack:  # noqa: F811
    """Airflow, the scenarios' org and fresh sync databases behind the usual connection ids."""
    return make_stack(fault_org, fresh_databases, monkeypatch, test_stack.base_dir)


@pytest.fixture
def balanced_runs(fault_stack: FaultStack, assert_balanced) -> Callable[[], None]:  # noqa: F811
    """Assert the counting identity on every finished inbound run of the sync log so far."""

    def check_all() -> None:
        for run in fault_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind <> 'writeback'"
                                         " AND status IN ('succeeded', 'dry_run')"):
            assert_balanced(run)

    return check_all
