"""Queues and assignment rules: queryable like Salesforce's, and applied to Lead and Case inserts
through REST's `Sforce-Auto-Assign` header and Bulk API 2.0's `assignmentRuleId`."""

from __future__ import annotations

import pytest
import requests

from emulator.ids import make_id


def _rule(sf, name: str) -> str:
    return sf.query(f"SELECT Id FROM AssignmentRule WHERE Name = '{name}'")["records"][0]["Id"]


def _queue(sf, name: str) -> str:
    return sf.query(f"SELECT Id FROM Group WHERE Type = 'Queue' AND Name = '{name}'")["records"][0]["Id"]


def test_queues_and_rules_are_queryable(sf):
    queues = {q["Name"] for q in sf.query_all("SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue'")
              ["records"]}
    assert queues == {"Web Leads", "Lead Inbox", "Support Tier 1", "Escalations"}
    taken = sf.query_all(f"SELECT SobjectType FROM QueueSobject WHERE QueueId = '{_queue(sf, 'Escalations')}'")
    assert [r["SobjectType"] for r in taken["records"]] == ["Case"]
    rules = {(r["Name"], r["SobjectType"], r["Active"]) for r in sf.query_all(
        "SELECT Name, SobjectType, Active FROM AssignmentRule")["records"]}
    assert ("Standard Lead Assignment", "Lead", True) in rules and ("Round Robin (retired)", "Lead", False) in rules


@pytest.mark.parametrize(("header", "source", "owner"), [
    (None, "Web", "queue:Web Leads"),  # absent: the active rule, as Salesforce does
    ("TRUE", "Partner Referral", "user:2"),
    ("TRUE", "Other", "queue:Lead Inbox"),
    ("FALSE", "Web", "user:1"),
    ("rule:Round Robin (retired)", "Web", "user:3"),  # an inactive rule runs when named by Id
])
def test_rest_inserts_follow_sforce_auto_assign(sf, header, source, owner):
    if header and header.startswith("rule:"):
        header = _rule(sf, header.removeprefix("rule:"))
    headers = {"Sforce-Auto-Assign": header} if header else {}
    created = sf.Lead.create({"LastName": "Routed", "Company": "Acme", "LeadSource": source}, headers=headers)
    kind, _, key = owner.partition(":")
    expected = _queue(sf, key) if kind == "queue" else make_id("005", int(key))
    assert sf.Lead.get(created["id"])["OwnerId"] == expected


def test_bulk_ingest_runs_the_job_assignment_rule(sf):
    rule = _rule(sf, "Case Triage")
    url = f"{sf.base_url}jobs/ingest"
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    refused = requests.post(url, json={"object": "Lead", "operation": "insert", "assignmentRuleId": rule},
                            headers=auth, timeout=30)
    assert refused.status_code == 400 and "assignmentRuleId" in refused.text  # a Case rule for Leads
    job = requests.post(url, json={"object": "Case", "operation": "insert", "assignmentRuleId": rule},
                        headers=auth, timeout=30).json()
    assert job["assignmentRuleId"] == rule
    requests.put(f"{url}/{job['id']}/batches", data="Subject,Priority\nUrgent,High\nRoutine,Low\n",
                 headers={**auth, "Content-Type": "text/csv"}, timeout=30).raise_for_status()
    requests.patch(f"{url}/{job['id']}", json={"state": "UploadComplete"}, headers=auth, timeout=30).raise_for_status()
    for _ in range(100):
        if requests.get(f"{url}/{job['id']}", headers=auth, timeout=30).json()["state"] == "JobComplete":
            break
    owners = {c["Subject"]: c["OwnerId"] for c in sf.query_all(
        "SELECT Subject, OwnerId FROM Case WHERE Subject IN ('Urgent', 'Routine')")["records"]}
    assert owners == {"Urgent": _queue(sf, "Escalations"), "Routine": _queue(sf, "Support Tier 1")}
