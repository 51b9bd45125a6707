"""DAG integrity and policy: parse without connections or network; broken mappings fail clearly;
a mapping file for a custom object adds its DAG with no code change."""

from __future__ import annotations

import shutil
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from crm_sync.paths import INCLUDE_DIR, PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
DIFFERENTIALS = {f"crm_differential_{o}" for o in ("account", "campaign", "campaignmember", "contact", "lead", "opportunity")}
EXPECTED = DIFFERENTIALS | {"crm_full_sync", "crm_record_sync", "crm_reconcile", "crm_writeback"}
# Tasks that call Salesforce, by DAG (the differentials: extract, which also prepares).
SALESFORCE_TASKS = {"crm_full_sync": {"sync_object", "reference_data"}, "crm_record_sync": {"sync_records"},
                    "crm_reconcile": {"reconcile"}, "crm_writeback": {"prepare", "write", "activity", "refresh"},
                    **{dag_id: {"extract"} for dag_id in DIFFERENTIALS}}


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def no_connections_or_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any connection lookup or outbound socket during parsing an error."""
    from airflow.sdk import BaseHook

    def refuse(*args, **kwargs):
        raise AssertionError("DAG parsing must not touch a connection or the network")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(refuse))
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_dags_parse_without_connections_or_network(no_connections_or_network) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    assert EXPECTED <= set(bag.dag_ids)


def test_every_dag_in_the_dagbag_follows_the_policy() -> None:
    bag = _dagbag()
    assert set(bag.dag_ids) == EXPECTED
    for dag_id, dag in bag.dags.items():
        assert "crm_sync" in dag.tags and dag.doc_md and not dag.catchup, dag_id
        if dag.schedule is not None:
            assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            assert task.owner == "crm_sync" and task.retries >= 1, (dag_id, task.task_id)
            assert task.doc_md or task.doc or (task.python_callable.__doc__ if hasattr(task, "python_callable")
                                                else None), (dag_id, task.task_id)
            # One compact XCom per task: a dict return must not become an XCom per key.
            assert not getattr(task, "multiple_outputs", False), (dag_id, task.task_id)
        calling = {t.task_id for t in dag.tasks if t.pool == "salesforce_api"}
        assert SALESFORCE_TASKS[dag_id] <= calling, (dag_id, calling)


PUBLISHING_TASKS = {"crm_full_sync": "sync_object", "crm_record_sync": "sync_records", "crm_reconcile": "reconcile",
                    "crm_writeback": "finalize", **{dag_id: "publish" for dag_id in DIFFERENTIALS}}


def test_publishing_tasks_emit_assets_of_their_tables_and_the_sync_log() -> None:
    bag = _dagbag()
    for dag_id, task_id in PUBLISHING_TASKS.items():
        outlets = {asset.uri for asset in bag.dags[dag_id].task_dict[task_id].outlets}
        assert "crm-sync://warehouse/sync_runs" in outlets, dag_id
        assert any(uri.startswith("crm-sync://marketing/") for uri in outlets), dag_id
    contact = {a.uri for a in bag.dags["crm_differential_contact"].task_dict["publish"].outlets}
    assert contact == {"crm-sync://marketing/people", "crm-sync://warehouse/sync_runs"}


def test_dag_files_are_tables_of_contents() -> None:
    """Each DAG file defines its tasks itself and renders its module docstring as doc_md."""
    bag = _dagbag()
    for dag_id, dag in bag.dags.items():
        source = Path(dag.fileloc).read_text()
        assert source.startswith('"""'), dag_id
        for task in dag.tasks:
            assert f"def {task.task_id}(" in source, (dag_id, task.task_id)


def test_manual_dags_are_manual_with_params_forms() -> None:
    bag = _dagbag()
    full = bag.dags["crm_full_sync"]
    assert full.schedule is None and full.max_active_runs == 1
    assert full.params["mode"] == "upsert" and full.params["dry_run"] is False
    assert full.params["objects"] == ["Account", "Campaign", "CampaignMember", "Contact", "Lead", "Opportunity"]
    objects = full.params.get_param("objects").schema
    assert objects["examples"] == objects["items"]["enum"] == full.params["objects"]  # a multi-select
    assert full.task_dict["sync_object"].map_index_template == "{{ object_name }}"  # labelled by object
    record_ids = record.params.get_param("ids").schema if (record := bag.dags["crm_record_sync"]) else {}
    assert record_ids["format"] == "multiline"
    assert "003… = Contact" in (record.params.get_param("object").description or "")
    assert full.task_dict["release_lock"].is_teardown
    record = bag.dags["crm_record_sync"]
    assert record.schedule is None and set(record.params) == {"object", "ids"}


def test_every_differential_dag_follows_the_policy() -> None:
    bag = _dagbag()
    for dag_id in DIFFERENTIALS:
        dag = bag.dags[dag_id]
        assert dag.max_active_runs == 1 and not dag.catchup
        assert dag.doc_md and "crm_sync" in dag.tags
        assert dag.schedule == timedelta(hours=1)  # hourly by default
        tasks = {t.task_id: t for t in dag.tasks}
        # Two task processes per run: Airflow's fixed cost is per task (docs/decisions.md).
        assert list(tasks) == ["extract", "publish"]
        assert tasks["extract"].pool == "salesforce_api" and tasks["extract"].retries >= 1
        assert tasks["extract"].upstream_task_ids == set()
        assert tasks["publish"].upstream_task_ids == {"extract"} and tasks["publish"].retries >= 1
        assert tasks["publish"].pool != "salesforce_api"  # no Salesforce call: no pool slot held
        assert {a.uri for a in tasks["extract"].outlets} == set()  # only publish emits the Assets


def test_interval_setting_changes_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SYNC_INTERVAL_MINUTES", "5")
    assert _dagbag().dags["crm_differential_lead"].schedule == timedelta(minutes=5)
    monkeypatch.setenv("CRM_SYNC_INTERVAL_MINUTES", "2")
    errors = _dagbag().import_errors
    assert any("CRM_SYNC_INTERVAL_MINUTES=2: must be between 5 and 1440" in e for e in errors.values())


def test_broken_mapping_file_is_an_import_error_naming_file_and_field(tmp_path: Path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    broken = mappings / "contact.yaml"
    broken.write_text(broken.read_text().replace("transform: lower_trim", "transform: lowercase"))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    errors = _dagbag().import_errors
    assert str(DAGS / "crm_differential.py") in errors
    for message in errors.values():  # every DAG file built from the mappings says the same
        assert str(broken) in message and "field Email > transform" in message


def test_custom_object_mapping_adds_its_dag(tmp_path: Path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    (mappings / "subscription.yaml").write_text(SUBSCRIPTION_MAPPING)
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    bag = _dagbag()
    assert bag.import_errors == {}
    assert {"crm_differential_subscription__c"} | EXPECTED <= set(bag.dag_ids)
    assert "Subscription__c" in bag.dags["crm_full_sync"].params["objects"]


SUBSCRIPTION_MAPPING = """\
object: Subscription__c
target: subscriptions
fields:
  - {source: Name, target: name, required: true}
  - {source: Contact__c, target: contact_sf_id}
  - {source: Plan__c, target: plan}
  - {source: Status__c, target: status}
  - {source: Start_Date__c, target: start_date, type: date}
  - {source: Amount__c, target: amount, type: numeric}
"""
