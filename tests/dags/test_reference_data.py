"""The full sync publishes what Paminga retrieves besides users: queues (with the objects each
takes), Lead and Case assignment rules, and Case priorities; a second run rewrites nothing, and
a queue gone from Salesforce is deactivated, not deleted."""

from __future__ import annotations

from airflow.utils.state import DagRunState

from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME


def _salesforce(sync_stack):
    from simple_salesforce import Salesforce

    return Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_SECURITY_TOKEN,
                      domain=sync_stack.emulator.login_domain)


def _snapshot(sync_stack) -> dict[str, list[dict]]:
    return {table: sync_stack.marketing(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - fixed names
            for table in ("crm_queues", "crm_assignment_rules", "crm_case_priorities")}


def test_queues_rules_and_priorities_are_published_and_settle(sync_stack) -> None:
    sf = _salesforce(sync_stack)
    assert sync_stack.run_dag("crm_full_sync", objects=["Account"]).state == DagRunState.SUCCESS
    published = _snapshot(sync_stack)

    taken: dict[str, list[str]] = {}
    for row in sf.query_all("SELECT QueueId, SobjectType FROM QueueSobject")["records"]:
        taken.setdefault(row["QueueId"], []).append(row["SobjectType"])
    queues = {q["Id"]: (q["Name"], sorted(taken.get(q["Id"], [])))
              for q in sf.query_all("SELECT Id, Name FROM Group WHERE Type = 'Queue'")["records"]}
    assert {q["sf_id"]: (q["name"], q["sobject_types"]) for q in published["crm_queues"]} == queues
    assert ("Web Leads", ["Lead"]) in queues.values() and ("Escalations", ["Case"]) in queues.values()
    assert all(q["is_active"] and q["removed_at"] is None for q in published["crm_queues"])

    rules = {r["Id"]: (r["Name"], r["SobjectType"], r["Active"])
             for r in sf.query_all("SELECT Id, Name, SobjectType, Active FROM AssignmentRule")["records"]}
    assert {r["sf_id"]: (r["name"], r["sobject_type"], r["is_active"])
            for r in published["crm_assignment_rules"]} == rules
    assert ("Standard Lead Assignment", "Lead", True) in rules.values()
    assert ("Round Robin (retired)", "Lead", False) in rules.values()

    priorities = [(v["value"], v["active"], v["defaultValue"]) for f in sf.Case.describe()["fields"]
                  if f["name"] == "Priority" for v in f["picklistValues"]]
    assert [(p["value"], p["is_active"], p["is_default"]) for p in
            sorted(published["crm_case_priorities"], key=lambda p: p["sort_order"])] == priorities
    assert ("Critical", False, False) in priorities and ("Medium", True, True) in priorities

    # The second run rewrites nothing (updated_at included).
    assert sync_stack.run_dag("crm_full_sync", objects=["Account"]).state == DagRunState.SUCCESS
    assert _snapshot(sync_stack) == published
    account = sync_stack.last_run("Account")
    assert (account["created"], account["updated"], account["archived"]) == (0, 0, 0)

    # A queue removed in Salesforce is kept, deactivated; the next run leaves it so.
    queue_id = sync_stack.admin.insert("Group", {"Name": "Trade Show Leads", "DeveloperName": "Trade_Show_Leads",
                                                 "Type": "Queue"})
    sync_stack.admin.insert("QueueSobject", {"QueueId": queue_id, "SobjectType": "Lead"})
    assert sync_stack.run_dag("crm_full_sync", objects=["Account"]).state == DagRunState.SUCCESS
    added = sync_stack.marketing("SELECT name, sobject_types, is_active FROM crm_queues WHERE sf_id = %s", queue_id)
    assert added == [{"name": "Trade Show Leads", "sobject_types": ["Lead"], "is_active": True}]
    sync_stack.admin.delete("Group", queue_id)
    assert sync_stack.run_dag("crm_full_sync", objects=["Account"]).state == DagRunState.SUCCESS
    gone = sync_stack.marketing("SELECT is_active, removed_at IS NOT NULL AS removed FROM crm_queues"
                                " WHERE sf_id = %s", queue_id)
    assert gone == [{"is_active": False, "removed": True}]
    settled = _snapshot(sync_stack)
    assert sync_stack.run_dag("crm_full_sync", objects=["Account"]).state == DagRunState.SUCCESS
    assert _snapshot(sync_stack) == settled
