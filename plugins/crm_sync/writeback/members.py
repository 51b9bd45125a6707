"""Campaign members on the way back: marketing list membership becomes CampaignMembers.

A row of `campaign_members` the marketing side added (a campaign and a person, no `sf_id`)
becomes a CampaignMember of that campaign for the person's Contact (else its Lead).
CampaignMember has no external id, so before inserting, the write-back asks Salesforce which
of these members exist already (by CampaignId and ContactId or LeadId): a member found — made
by an earlier, interrupted attempt, or added in Salesforce meanwhile — is linked instead of
created, so a retried run never doubles one. Status changes of linked members are ordinary
updates by Id (`plan.plan_update`). A member whose person has no Salesforce record yet (a new
person whose Lead this very run creates) is deferred: it stays queued for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg

from crm_sync.mapping.loader import ValueMap
from crm_sync.mapping.model import ObjectMapping
from crm_sync.salesforce.ids import is_salesforce_id
from crm_sync.salesforce.soql import members_queries
from crm_sync.writeback import tracking
from crm_sync.writeback.plan import Change, RecordTask, skipped
from crm_sync.writeback.rules import encode

log = logging.getLogger(__name__)

#: The columns a member insert is keyed by in its ingest job (joined by `|`).
MEMBER_KEY = ("CampaignId", "ContactId", "LeadId")
OBJECT = "CampaignMember"
#: The columns that say which member a row is: matched, not edits to write or restore.
IDENTITY_COLUMNS = frozenset({"campaign_sf_id", "contact_sf_id", "lead_sf_id", "person_id"})


def member_key(values: dict[str, str]) -> str:
    """A member row's key in its ingest job: campaign, Contact and Lead Ids joined by `|`."""
    return "|".join(values.get(name, "") for name in MEMBER_KEY)


def _person_records(mk: psycopg.Connection, changes: list[Change]) -> dict[int, tuple[str | None, str | None]]:
    """(Contact Id, Lead Id) of the people the rows name, by person id."""
    ids = sorted({int(c.row["person_id"]) for c in changes if c.row.get("person_id") is not None})
    if not ids:
        return {}
    rows = mk.execute("SELECT id, contact_sf_id, lead_sf_id FROM people WHERE id = ANY(%s)", (ids,)).fetchall()
    mk.commit()
    return {int(row[0]): (row[1], row[2]) for row in rows}


def _resolve(change: Change, people: dict[int, tuple[str | None, str | None]]) -> str | None:
    """Set the row's Contact or Lead Id (the Contact first) from the row or its person; returns it."""
    contact, lead = change.row.get("contact_sf_id"), change.row.get("lead_sf_id")
    if not (contact or lead) and change.row.get("person_id") is not None:
        contact, lead = people.get(int(change.row["person_id"]), (None, None))
    change.row["contact_sf_id"], change.row["lead_sf_id"] = (contact, None) if contact else (None, lead)
    return contact or lead


def link_existing(mk: psycopg.Connection, query: Callable[[str], list[dict[str, Any]]], unlinked: list[Change],
                  ready: list[Change], refresh: list[tuple[str, str, str]]) -> tuple[list[Change], list[RecordTask]]:
    """Link the new members Salesforce has already; returns (members to create, rows decided here).

    Args:
        mk: The marketing connection (links run as the write-back's own writes).
        query: Runs one SOQL query of CampaignMember (counted, within the budget).
        unlinked: Rows without a Salesforce member.
        ready: Linked rows, to which the members found here are added (then updated as usual).
        refresh: Read-back requests, to which the members found here are added.
    """
    people = _person_records(mk, unlinked)
    decided: list[RecordTask] = []
    candidates: list[tuple[Change, str, str]] = []
    for change in unlinked:
        campaign = change.row.get("campaign_sf_id")
        person = _resolve(change, people)
        if not campaign or not is_salesforce_id(str(campaign)):
            decided.append(skipped(change, OBJECT, "no_campaign"))
        elif person is None and change.row.get("person_id") is None:
            decided.append(skipped(change, OBJECT, "no_person"))
        elif person is None or not is_salesforce_id(person):
            task = skipped(change, OBJECT, "person_not_in_salesforce")
            task.outcome, task.error = "deferred", "the person has no Lead or Contact yet; tried again next run"
            decided.append(task)
        else:
            candidates.append((change, str(campaign), person))
    found: dict[tuple[str, str], str] = {}
    campaigns = sorted({c for _, c, _ in candidates})
    for soql in members_queries(campaigns, sorted({p for _, _, p in candidates})) if candidates else ():
        for record in query(soql):
            for person in (record.get("ContactId"), record.get("LeadId")):
                if person:
                    found.setdefault((record["CampaignId"], person), record["Id"])
    creates: list[Change] = []
    with mk.transaction():
        tracking.mark_writeback(mk)
        for change, campaign, person in candidates:
            sf_id = found.get((campaign, person))
            if sf_id is None:
                creates.append(change)
            elif tracking.link(mk, change, OBJECT, sf_id, people=False):
                change.fields = change.fields - IDENTITY_COLUMNS
                ready.append(change)
                refresh.append((OBJECT, sf_id, "linked_by_campaign_and_person"))
                log.info("marketing member %d linked to existing CampaignMember %s", change.row_id, sf_id)
            else:
                decided.append(skipped(change, OBJECT, "duplicate_member", sf_id))
    return creates, decided


def plan_create(change: Change, mapping: ObjectMapping, value_maps: dict[str, ValueMap], *,
                createable: set[str] | None = None) -> RecordTask:
    """A new CampaignMember: the campaign, the person's Contact or Lead, and the status if set."""
    values = {"CampaignId": str(change.row["campaign_sf_id"])}
    if change.row.get("contact_sf_id"):
        values["ContactId"] = str(change.row["contact_sf_id"])
    else:
        values["LeadId"] = str(change.row["lead_sf_id"])
    for fm in mapping.written_fields:
        value = change.row.get(fm.target)
        if value is not None and (createable is None or fm.source.lower() in createable):
            values[fm.source] = encode(value, fm, value_maps)
    return RecordTask(change=change, object=mapping.object, sf_id=None, operation="insert", key=member_key(values),
                      values=values)


def read_back_updates(tasks: list[RecordTask]) -> list[tuple[str, str, str]]:
    """Read-back requests for members whose status was written: Salesforce derives `HasResponded`.

    Without it the derived value would arrive with the next differential as a change.
    """
    return [(t.object, t.sf_id, "status written") for t in tasks
            if t.object == OBJECT and t.outcome == "updated" and t.sf_id and "Status" in t.values]
