"""The Account each new Contact goes under, when the Contact mapping creates people.

`writeback.account` of the Contact mapping says how: `id: 001…` puts every new Contact
under that Account; `match: company_name` uses the Account whose Name equals the person's
`company` (case-insensitively, the lowest Id when several do) and inserts one Account per
company Salesforce does not have yet. A person whose row already has an `account_sf_id`
keeps it. A person with neither a company nor an Account is not created: the task is skipped
with a reason naming the field. Re-runs are harmless: an Account created by an earlier,
interrupted attempt is found by name the next time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_sync.mapping.model import ObjectMapping
from crm_sync.writeback.ingest import RowResult
from crm_sync.writeback.plan import RecordTask

NAMES_PER_QUERY = 100
#: Why a new Contact was not created, recorded on its task.
NO_ACCOUNT = "no_account:company"


def account_names_queries(names: list[str]) -> list[str]:
    """`SELECT Id, Name FROM Account WHERE Name IN (…)`, per `NAMES_PER_QUERY` names."""
    from simple_salesforce.format import format_soql

    return [format_soql("SELECT Id, Name FROM Account WHERE Name IN {} ORDER BY Id", names[i:i + NAMES_PER_QUERY])
            for i in range(0, len(names), NAMES_PER_QUERY)]


def assign_accounts(tasks: list[RecordTask], mapping: ObjectMapping, *,
                    query: Callable[[str], list[dict[str, Any]]],
                    insert_accounts: Callable[[dict[str, dict[str, str]]], dict[str, RowResult]]) -> None:
    """Set `AccountId` on every Contact create task, or skip the task saying why.

    Args:
        tasks: The create tasks of the Contact mapping (planned, not yet written).
        mapping: The Contact mapping (its `writeback.account` says how).
        query: Runs a SOQL query and returns its records.
        insert_accounts: Inserts Accounts (rows keyed by Name) and returns each row's result.
    """
    choice = mapping.writeback.account
    assert choice is not None, "the model requires writeback.account for a creating Contact mapping"
    waiting: dict[str, list[RecordTask]] = {}
    for task in tasks:
        if task.outcome is not None:
            continue
        own = task.change.row.get("account_sf_id")
        if own or choice.id:
            task.values["AccountId"] = str(own or choice.id)
            continue
        company = str(task.change.row.get("company") or "").strip()
        if not company:
            task.operation, task.outcome, task.reason = "none", "skipped", NO_ACCOUNT
            task.error = f"person {task.change.row_id}: no company to find or create the Contact's Account by"
            task.values = {}
            continue
        waiting.setdefault(company.lower(), []).append(task)
    if not waiting:
        return
    names = sorted(str(group[0].change.row["company"]).strip() for group in waiting.values())
    found: dict[str, str] = {}
    for soql in account_names_queries(names):
        for record in query(soql):
            found.setdefault(str(record["Name"]).lower(), str(record["Id"]))
    missing = {name: {"Name": name} for name in names if name.lower() not in found}
    if missing:
        for name, result in insert_accounts(missing).items():
            if result.status == "succeeded" and result.sf_id:
                found.setdefault(name.lower(), result.sf_id)
            else:
                for task in waiting.get(name.lower(), []):
                    task.outcome, task.reason = "deferred" if result.status == "deferred" else "failed", result.code
                    task.error = f"the Account {name!r} could not be created: {result.message}"
    for key, group in waiting.items():
        for task in group:
            if task.outcome is None:
                task.values["AccountId"] = found[key]
