"""Picklists on every run: Salesforce's values (labels, active flags) reach the marketing
database through the differential, and a new, removed or deactivated value is reported in
the sync log."""

from __future__ import annotations

from airflow.utils.state import DagRunState


def test_every_run_publishes_picklists_and_reports_what_changed(sync_stack) -> None:
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    assert "picklist_changes" not in sync_stack.last_run("Account")["report"]  # the first describe only records
    salesforce = {(f["name"], v["value"], v["label"], v["active"])
                  for f in _describe(sync_stack, "Account") for v in f.get("picklistValues") or []}
    published = {(r["field"], r["value"], r["label"], r["active"]) for r in sync_stack.marketing(
        "SELECT field, value, label, active FROM crm_picklist_values WHERE object = 'Account'")}
    assert published == salesforce and ("Industry", "Technology", "Technology", True) in published

    # As if the run before had seen another Industry value, no 'Banking', and 'Energy' inactive.
    sync_stack.warehouse("INSERT INTO crm_mapping.picklist_values (object, field, value, label, active)"
                         " VALUES ('Account', 'Industry', 'Whaling', 'Whaling', true) RETURNING value")
    sync_stack.warehouse("DELETE FROM crm_mapping.picklist_values WHERE object = 'Account' AND field = 'Industry'"
                         " AND value = 'Banking' RETURNING value")
    sync_stack.warehouse("UPDATE crm_mapping.picklist_values SET active = false WHERE object = 'Account'"
                         " AND field = 'Industry' AND value = 'Energy' RETURNING value")
    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    assert sync_stack.last_run("Account")["report"]["picklist_changes"] == {
        "Industry": {"new": ["Banking"], "removed": ["Whaling"], "activated": ["Energy"]}}
    again = {(r["field"], r["value"], r["label"], r["active"]) for r in sync_stack.marketing(
        "SELECT field, value, label, active FROM crm_picklist_values WHERE object = 'Account'")}
    assert again == salesforce

    assert sync_stack.run_dag("crm_differential_account").state == DagRunState.SUCCESS
    assert "picklist_changes" not in sync_stack.last_run("Account")["report"]  # nothing changed since


def _describe(sync_stack, object_name: str) -> list[dict]:
    from simple_salesforce import Salesforce

    from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME

    sf = Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_SECURITY_TOKEN,
                    domain=sync_stack.emulator.login_domain)
    return getattr(sf, object_name).describe()["fields"]
