"""Who owns a Lead the write-back creates (`writeback.owner` of the Lead mapping).

A fixed user or queue is resolved by name from the reference data the full sync publishes
(`crm_users`, `crm_queues`) and set as `OwnerId` on every insert. An assignment rule is
resolved to its Id by asking Salesforce (one query per run that creates Leads; `default` is
the active Lead rule) and handed over with the ingest job (Bulk API 2.0's
`assignmentRuleId`): Salesforce assigns the owner itself. An unknown name fails the write-back with the name and where it was looked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from crm_sync.mapping.model import Owner
from crm_sync.salesforce.ids import is_salesforce_id


class UnknownOwner(ValueError):
    """`writeback.owner` names a user, queue or rule the reference data does not have."""


@dataclass(frozen=True)
class CreateOwner:
    """How created records get their owner: an `OwnerId` on each row, or a job's assignment rule."""

    owner_id: str | None = None
    assignment_rule_id: str | None = None


def resolve_owner(mk: psycopg.Connection, owner: Owner | None,
                  rules: Callable[[], list[dict[str, Any]]]) -> CreateOwner:
    """Resolve a mapping's owner option: users and queues from the marketing reference tables.

    `rules` reads the assignment rules from Salesforce (called only for `assignment_rule`:
    which rule is active is Salesforce's to say at the moment of writing).

    Raises:
        UnknownOwner: naming the user, queue or rule not found (or the missing active rule).
    """
    if owner is None:
        return CreateOwner()
    hint = "(reference data is refreshed by crm_full_sync; fix lead.yaml > writeback > owner or the org)"
    if owner.user is not None:
        row = mk.execute("SELECT sf_id FROM crm_users WHERE (sf_id = %(u)s OR lower(username) = lower(%(u)s))"
                         " AND is_active", {"u": owner.user}).fetchone()
        if row is None:
            raise UnknownOwner(f"writeback > owner > user: no active Salesforce user {owner.user!r} {hint}")
        return CreateOwner(owner_id=str(row[0]))
    if owner.queue is not None:
        row = mk.execute("SELECT sf_id FROM crm_queues WHERE (name = %(q)s OR developer_name = %(q)s OR sf_id = %(q)s)"
                         " AND is_active AND 'Lead' = ANY (sobject_types)", {"q": owner.queue}).fetchone()
        if row is None:
            raise UnknownOwner(f"writeback > owner > queue: no active queue {owner.queue!r} that takes Leads {hint}")
        return CreateOwner(owner_id=str(row[0]))
    rule = str(owner.assignment_rule)
    leads = [r for r in rules() if r.get("SobjectType") == "Lead"]
    if rule == "default":
        found = sorted(str(r["Id"]) for r in leads if r.get("Active"))
        if not found:
            raise UnknownOwner("writeback > owner > assignment_rule: the org has no active Lead assignment rule "
                               "(activate one in Salesforce, or fix lead.yaml > writeback > owner)")
    else:
        found = sorted(str(r["Id"]) for r in leads if rule in (r.get("Name"), r.get("Id")))
        if not found:
            raise UnknownOwner(f"writeback > owner > assignment_rule: Salesforce has no Lead assignment rule "
                               f"{rule!r} (fix lead.yaml > writeback > owner, or the org)")
    return CreateOwner(assignment_rule_id=found[0])


def create_ingest_job(client: Any, operation: str, *, external_id: str | None,
                      assignment_rule_id: str | None) -> dict[str, Any]:
    """Create a Bulk API 2.0 ingest job, with `assignmentRuleId` when given.

    simple-salesforce's `create_job` has no assignment rule parameter; this sends the same
    request with it (`client`: simple-salesforce's Bulk API 2.0 client of the object).
    """
    from simple_salesforce.util import call_salesforce

    if assignment_rule_id is not None and not is_salesforce_id(assignment_rule_id):
        raise UnknownOwner(f"assignment rule id {assignment_rule_id!r} is not a Salesforce Id")
    payload: dict[str, Any] = {"operation": operation, "object": client.object_name, "contentType": "CSV",
                               "columnDelimiter": "COMMA", "lineEnding": "LF"}
    if external_id:
        payload["externalIdFieldName"] = external_id
    if assignment_rule_id:
        payload["assignmentRuleId"] = assignment_rule_id
    result = call_salesforce(url=client._construct_request_url(None, False), method="POST", session=client.session,
                             headers=client._get_headers(client.JSON_CONTENT_TYPE, client.JSON_CONTENT_TYPE),
                             data=json.dumps(payload))
    return dict(result.json())
