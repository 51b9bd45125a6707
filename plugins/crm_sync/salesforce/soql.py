"""Every SOQL statement the sync sends, built here (pure functions, unit-tested).

Values in conditions are either literals the sync makes itself (datetimes, validated Ids)
or quoted by simple-salesforce's `quote_soql_value`; a mapping's list filter was validated
when the mapping file was loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from crm_sync.mapping.filters import MembershipTerm
from crm_sync.mapping.model import ObjectMapping

# Fields every extract needs whatever the mapping says: identity, change cursor, deletes.
SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
# Salesforce-specific fields the people loader needs to follow Lead conversion.
EXTRA_FIELDS = {"lead": ("IsConverted", "ConvertedContactId")}
# The objects Salesforce merges: a loser is deleted with `MasterRecordId` naming the master.
MERGED_OBJECTS = frozenset({"account", "contact", "lead"})
MASTER_FIELD = "MasterRecordId"
# Ids or emails per `IN (…)` query: keeps the SOQL far below Salesforce's length limits.
IDS_PER_QUERY = 200
EMAILS_PER_QUERY = 100
USER_FIELDS = ("Id", "Username", "Email", "FirstName", "LastName", "Title", "IsActive")


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds, e.g. 2024-01-02T10:00:00.000Z."""
    if value.tzinfo is None:
        raise ValueError("SOQL datetimes must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def extract_fields(mapping: ObjectMapping) -> list[str]:
    """The fields to select: system fields, then every mapped field, without repeats."""
    fields: list[str] = []
    seen: set[str] = set()
    merge = (MASTER_FIELD,) if is_merged_object(mapping) else ()
    for name in (*SYSTEM_FIELDS, *EXTRA_FIELDS.get(mapping.object.lower(), ()), *merge,
                 *(f.source for f in mapping.fields)):
        if name.lower() not in seen:
            seen.add(name.lower())
            fields.append(name)
    return fields


def is_merged_object(mapping: ObjectMapping) -> bool:
    """True for objects Salesforce can merge (they have `MasterRecordId`)."""
    return mapping.object.lower() in MERGED_OBJECTS


def _with_filter(mapping: ObjectMapping, parts: list[str]) -> str:
    if mapping.filter:
        parts.append(f"({mapping.filter})")
    return " AND ".join(parts)


def window_condition(mapping: ObjectMapping, start: datetime | None, end: datetime) -> str:
    """The WHERE condition of a half-open `[start, end)` SystemModstamp window.

    `start=None` means no lower bound (initial import). The mapping's list filter, if any,
    is ANDed in parentheses.
    """
    parts = [] if start is None else [f"SystemModstamp >= {soql_datetime(start)}"]
    parts.append(f"SystemModstamp < {soql_datetime(end)}")
    return _with_filter(mapping, parts)


def left_filter_condition(mapping: ObjectMapping, start: datetime | None, end: datetime) -> str:
    """Live records of the window that do *not* match the mapping's filter (it must have one).

    The differential's second, `Id`-only query: what changed in the window and no longer
    belongs to the synced list. Not for membership filters (Salesforce refuses NOT around a
    semi-join): `crm_sync.membership` subtracts instead.
    """
    if not mapping.filter or mapping.memberships:
        raise ValueError(f"{mapping.object} has no filter, or a membership filter (no NOT around a semi-join)")
    parts = [] if start is None else [f"SystemModstamp >= {soql_datetime(start)}"]
    parts += [f"SystemModstamp < {soql_datetime(end)}", "IsDeleted = false", f"(NOT ({mapping.filter}))"]
    return " AND ".join(parts)


def select_query(mapping: ObjectMapping, fields: list[str], condition: str | None) -> str:
    """`SELECT <fields> FROM <object> [WHERE <condition>]`."""
    query = f"SELECT {', '.join(fields)} FROM {mapping.object}"
    return f"{query} WHERE {condition}" if condition else query


def count_query(mapping: ObjectMapping, condition: str | None) -> str:
    """`SELECT COUNT() FROM <object> [WHERE <condition>]`."""
    query = f"SELECT COUNT() FROM {mapping.object}"
    return f"{query} WHERE {condition}" if condition else query


def ids_condition(ids: list[str]) -> str:
    """`Id IN ('…', …)` for ids already validated by the caller."""
    return "Id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"


def by_ids_queries(mapping: ObjectMapping, fields: list[str], ids: list[str], *,
                   filtered: bool = False) -> Iterator[str]:
    """`SELECT <fields> … WHERE Id IN (…)`, one query per `IDS_PER_QUERY` validated Ids.

    `filtered`: only the records that match the mapping's filter (the record sync's reads).
    """
    for start in range(0, len(ids), IDS_PER_QUERY):
        condition = ids_condition(ids[start:start + IDS_PER_QUERY])
        yield select_query(mapping, fields, _with_filter(mapping, [condition]) if filtered else condition)


def outside_filter_queries(mapping: ObjectMapping, ids: list[str]) -> Iterator[str]:
    """`SELECT Id … WHERE Id IN (…) AND IsDeleted = false AND (NOT (filter))` per `IDS_PER_QUERY` Ids.

    Which of the Ids are live records that do not match the mapping's filter (it must have a
    plain one; a membership filter subtracts instead, see `crm_sync.membership`).
    """
    if not mapping.filter or mapping.memberships:
        raise ValueError(f"{mapping.object} has no filter, or a membership filter (no NOT around a semi-join)")
    for start in range(0, len(ids), IDS_PER_QUERY):
        yield (f"SELECT Id FROM {mapping.object} WHERE {ids_condition(ids[start:start + IDS_PER_QUERY])}"
               f" AND IsDeleted = false AND (NOT ({mapping.filter}))")


def emails_queries(mapping: ObjectMapping, emails: list[str]) -> Iterator[str]:
    """`SELECT Id, Email … WHERE Email IN (…)` per `EMAILS_PER_QUERY` emails (unconverted Leads only)."""
    from simple_salesforce.format import format_soql

    extra = " AND IsConverted = false" if mapping.is_lead else ""
    for start in range(0, len(emails), EMAILS_PER_QUERY):
        yield format_soql(f"SELECT Id, Email FROM {mapping.object} WHERE Email IN {{}}{extra} ORDER BY Id",
                          emails[start:start + EMAILS_PER_QUERY])


def members_queries(campaign_ids: list[str], person_ids: list[str]) -> Iterator[str]:
    """The CampaignMembers of the campaigns whose Contact or Lead is one of `person_ids`.

    One query per `IDS_PER_QUERY` validated person Ids (the campaigns of a chunk are few).
    CampaignMember has no external id: this is how the write-back finds a member it made.
    """
    campaigns = ", ".join(f"'{i}'" for i in campaign_ids)
    for start in range(0, len(person_ids), IDS_PER_QUERY):
        people = ", ".join(f"'{i}'" for i in person_ids[start:start + IDS_PER_QUERY])
        yield (f"SELECT Id, CampaignId, ContactId, LeadId FROM CampaignMember WHERE CampaignId IN ({campaigns})"
               f" AND (ContactId IN ({people}) OR LeadId IN ({people})) ORDER BY Id")


def range_query(mapping: ObjectMapping, fields: list[str], start: datetime, end: datetime) -> str:
    """The records of a Bulk job's half-open `[start, end)` SystemModstamp range."""
    return select_query(mapping, fields, window_condition(mapping, start, end))


def identity_query(mapping: ObjectMapping) -> tuple[str, str]:
    """Reconciliation's (count, select) of just `Id, SystemModstamp, IsDeleted` (and `IsConverted`)."""
    # A converted Lead is absent from marketing on purpose: its Contact carries the person.
    fields = [*SYSTEM_FIELDS, *(["IsConverted"] if mapping.is_lead else [])]
    condition = mapping.filter
    return count_query(mapping, condition), select_query(mapping, fields, condition)


def users_query() -> str:
    """The record owners the marketing side keeps (`crm_users`)."""
    return f"SELECT {', '.join(USER_FIELDS)} FROM User"


def window_live_condition(start: datetime, end: datetime) -> str:
    """Live records changed in the half-open `[start, end)` window, whatever the filter says."""
    return f"SystemModstamp >= {soql_datetime(start)} AND SystemModstamp < {soql_datetime(end)} AND IsDeleted = false"


def live_ids_queries(mapping: ObjectMapping, ids: list[str]) -> Iterator[str]:
    """`SELECT Id … WHERE Id IN (…) AND IsDeleted = false` per `IDS_PER_QUERY` validated Ids."""
    for start in range(0, len(ids), IDS_PER_QUERY):
        yield (f"SELECT Id FROM {mapping.object} WHERE {ids_condition(ids[start:start + IDS_PER_QUERY])}"
               " AND IsDeleted = false")


def member_changes_query(term: MembershipTerm, start: datetime, end: datetime) -> str:
    """The membership rows (CampaignMember) changed in `[start, end)`, selecting the member's Id.

    Read with `queryAll`, so deleted rows (a record leaving the list) come too. Narrowed by
    the term's `CampaignId` conditions only: a row that stopped matching the rest of its
    condition (a changed Status) is exactly a change to notice.
    """
    parts = [f"SystemModstamp >= {soql_datetime(start)}", f"SystemModstamp < {soql_datetime(end)}",
             f"{term.field} != null"]
    if term.campaigns:
        parts.append(f"({term.campaigns})")
    return f"SELECT {term.field} FROM {term.object} WHERE {' AND '.join(parts)}"


QUEUE_FIELDS = ("Id", "Name", "DeveloperName", "Email")
ASSIGNMENT_RULE_FIELDS = ("Id", "Name", "SobjectType", "Active")
#: The objects whose assignment rules the marketing side keeps (new Leads; Case routing).
ASSIGNMENT_RULE_OBJECTS = ("Lead", "Case")


def queues_query() -> str:
    """The queues (Groups of type Queue) records can be owned by (`crm_queues`)."""
    return f"SELECT {', '.join(QUEUE_FIELDS)} FROM Group WHERE Type = 'Queue'"


def queue_objects_query() -> str:
    """Which objects each queue takes (`QueueSobject`)."""
    return "SELECT QueueId, SobjectType FROM QueueSobject"


def assignment_rules_query() -> str:
    """The Lead and Case assignment rules, active or not (`crm_assignment_rules`)."""
    objects = ", ".join(f"'{name}'" for name in ASSIGNMENT_RULE_OBJECTS)
    return f"SELECT {', '.join(ASSIGNMENT_RULE_FIELDS)} FROM AssignmentRule WHERE SobjectType IN ({objects})"
