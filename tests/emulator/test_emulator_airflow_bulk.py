"""Airflow's ``SalesforceBulkOperator`` (Bulk API 1.0 through simple-salesforce) run as a task with ``dag.test()``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME

DAGS = Path(__file__).parent / "dags"


def _load_dag():
    spec = importlib.util.spec_from_file_location("emulator_bulk_operator", DAGS / "emulator_bulk_operator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_salesforce_bulk_operator_in_a_dag_run(stack_env, emulator, admin, monkeypatch, sf):
    conn = {"conn_type": "salesforce", "login": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD,
            "extra": {"security_token": DEFAULT_SECURITY_TOKEN, "domain": emulator.login_domain, "version": "59.0"}}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_EMULATOR", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "emulator-tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS), "refresh_interval": 0}}]))
    module = _load_dag()
    before = admin.stats()["faults_injected"].get("unable_to_lock_row", 0)
    admin.set_faults(lock_next=1)  # the first record hits a locked row; the operator re-submits it
    try:
        run = module.dag.test()
    finally:
        admin.clear_faults()
    assert run.state == "success"
    assert admin.stats()["faults_injected"]["unable_to_lock_row"] == before + 1
    found = sf.query("SELECT LastName, Email, Lead_Source_Detail__c FROM Lead WHERE Company = 'Bulk Operator Co' "
                     "ORDER BY LastName")["records"]
    assert [(r["LastName"], r["Email"], r["Lead_Source_Detail__c"]) for r in found] == [
        (p["LastName"], p["Email"], "Airflow") for p in module.PEOPLE]
