"""List-based sync on campaign membership: the reads a membership filter needs.

A mapping filtered on membership (`Id IN (SELECT ContactId FROM CampaignMember WHERE …)`,
see `crm_sync.mapping.filters`) changes when its CampaignMember rows change, not only when
the record does. So the differential of such a mapping, after its filtered window read:

1. reads the Ids of the window's live records (`Id` only) and keeps those the filtered read
   did not return: they left the list (`left_filter`). Salesforce refuses NOT around a
   semi-join, so this is a subtraction, not the plain filter's `NOT (filter)` query;
2. reads the CampaignMember rows changed in the window, deleted ones included (`queryAll`,
   narrowed by the filter's `CampaignId` terms), and collects their Contact or Lead Ids;
3. re-reads those Ids (not already read) through the filter: the records in it are staged
   like the window's (a new member is created or unarchived, the others are unchanged);
   the live ones outside it left the list (`left_filter`).

Cost per differential: one query for step 1, one per membership term for step 2, and one
per 200 Ids for step 3 (plus one per 200 Ids not in the filter, to tell live from deleted):
typically four calls, paged beyond 2,000 rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from crm_sync.mapping.model import ObjectMapping
from crm_sync.normalize import StagingRow, from_rest
from crm_sync.salesforce import SalesforceGateway
from crm_sync.salesforce.ids import is_salesforce_id
from crm_sync.salesforce.soql import (
    by_ids_queries,
    live_ids_queries,
    member_changes_query,
    select_query,
    window_live_condition,
)
from crm_sync.staging import stage_rows

log = logging.getLogger(__name__)


def outside_filter(sf: SalesforceGateway, mapping: ObjectMapping, ids: list[str]) -> list[str]:
    """Which of the Ids are live records outside the mapping's membership filter (sorted).

    Two reads per 200 Ids: the live ones, minus those the filter returns.
    """
    live = {str(r["Id"]) for query in live_ids_queries(mapping, ids) for r in sf.query_records(query)}
    if not live:
        return []
    inside = {str(r["Id"]) for query in by_ids_queries(mapping, ["Id"], sorted(live), filtered=True)
              for r in sf.query_records(query)}
    return sorted(live - inside)


def changed_members(sf: SalesforceGateway, mapping: ObjectMapping, start: datetime, end: datetime) -> set[str]:
    """Ids of the object's records whose membership rows changed (or were deleted) in `[start, end)`."""
    return {str(r[term.field]) for term in mapping.memberships
            for r in sf.query_records(member_changes_query(term, start, end), include_deleted=True)
            if r.get(term.field)}


def stage_membership_changes(wh: psycopg.Connection, sf: SalesforceGateway, run_id: int, mapping: ObjectMapping,
                             fields: list[str], start: datetime, end: datetime) -> tuple[int, dict[str, Any]]:
    """After the window's filtered read: stage the records that joined the list, find those that left.

    Returns the number of rows staged here and the report entries: `left_filter` (the Ids
    the load archives as `left_filter`), `membership_changes` (records whose membership
    changed in the window) and `membership_reread` (how many of them were read again).
    """
    staged_ids = {str(row[0]) for row in wh.execute(
        "SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s", (run_id,))}
    live = {str(r["Id"]) for r in sf.query_records(select_query(mapping, ["Id"], window_live_condition(start, end)))}
    left = live - staged_ids
    members = changed_members(sf, mapping, start, end)
    reread = sorted(i for i in members - staged_ids - left if is_salesforce_id(i))
    found: set[str] = set()

    def rows() -> Iterator[StagingRow]:
        for query in by_ids_queries(mapping, fields, reread, filtered=True):
            for record in sf.query_records(query, include_deleted=True):
                row = from_rest(record)
                found.add(row[0])
                yield row

    staged = stage_rows(wh, run_id, rows(), replace=False) if reread else 0
    rest = [i for i in reread if i not in found]
    if rest:
        left |= {str(r["Id"]) for query in live_ids_queries(mapping, rest) for r in sf.query_records(query)}
    if members:
        log.info("run %d: %d %s record(s) changed membership in the window: %d read again, %d in the list,"
                 " %d left it", run_id, len(members), mapping.object, len(reread), len(found), len(left & set(rest)))
    return staged, {"left_filter": sorted(left), "membership_changes": len(members), "membership_reread": len(reread)}
