"""A full sync of an org with 100,000 Contacts, through crm_full_sync on the real stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.utils.state import DagRunState

from devstack.environment import build_stack_env

CONTACTS = 100_000


@pytest.fixture(scope="module")
def big_org(tmp_path_factory, test_stack) -> Iterator[object]:
    """A second emulator seeded with 100k Contacts (and the other objects in proportion)."""
    from emulator.launcher import start_emulator

    handle = start_emulator(tmp_path_factory.mktemp("big_org"), records=CONTACTS, seed=3)
    yield handle
    handle.stop()


@pytest.mark.slow
def test_full_sync_of_100k_contacts(sync_stack, big_org, monkeypatch, tmp_path: Path, assert_balanced) -> None:
    env = build_stack_env(Path("."), tmp_path, 5432, big_org.url, None)
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    bundle = tmp_path / "ca.pem"  # trust both emulators: the session's and this one
    bundle.write_text(Path(os.environ["REQUESTS_CA_BUNDLE"]).read_text() + big_org.cert_path.read_text())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    big_admin = big_org.admin()
    big_admin.reset_stats()

    dag_run = sync_stack.run_dag("crm_full_sync", objects=["Contact"], mode="mirror", dry_run=False)

    assert dag_run.state == DagRunState.SUCCESS, sync_stack.task_states(dag_run)
    run = sync_stack.last_run("Contact")
    assert run["extracted"] == big_admin.count("Contact", include_deleted=True) >= CONTACTS
    assert_balanced(run)
    assert run["extract_method"] == "bulk" and run["report"]["mirror_archived"] == 0
    people = sync_stack.marketing("SELECT count(*) AS n FROM people WHERE contact_sf_id IS NOT NULL")[0]["n"]
    assert people == run["created"] + run["updated"] + run["unchanged"] - _deleted_unchanged(sync_stack, run)
    # A handful of calls move the whole object: login, describe, count, job, polls, pages.
    assert run["api_calls"] <= 12


def _deleted_unchanged(sync_stack, run) -> int:
    """Deleted records whose person was already archived count as unchanged but are people rows too."""
    return 0
