"""Read records again from Salesforce into the marketing database, by Id.

Used for the records a write-back created or linked (so the marketing row carries what
Salesforce filled in: owner, status, defaults) and for records whose Salesforce-owned values
were edited on the marketing side or lost a conflict there (so Salesforce's values come
back). The records go through the inbound path (`extract.extract_records`, then `publish`)
as a `record` run, sharing the write-back's gateway and API budget. Requests wait in
`crm_sync.writeback_refresh` until their load committed.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import psycopg

from crm_sync import runs
from crm_sync.context import RunContext
from crm_sync.extract import extract_records
from crm_sync.publish import BatchRejected, publish
from crm_sync.runs import RunKind, SyncRun
from crm_sync.salesforce import SalesforceGateway
from crm_sync.salesforce.ids import is_salesforce_id
from crm_sync.salesforce.soql import IDS_PER_QUERY

log = logging.getLogger(__name__)


def pending_refreshes(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Requested record Ids by object."""
    pending: dict[str, list[str]] = defaultdict(list)
    for object_name, sf_id in conn.execute(
            "SELECT object, sf_id FROM crm_sync.writeback_refresh ORDER BY object, requested_at, sf_id"):
        pending[object_name].append(sf_id)
    conn.commit()
    return dict(pending)


def _drop_requests(wh: psycopg.Connection, object_name: str, ids: list[str]) -> None:
    wh.execute("DELETE FROM crm_sync.writeback_refresh WHERE object = %s AND sf_id = ANY(%s)", (object_name, ids))
    wh.commit()


def refresh_object(ctx: RunContext, wh: psycopg.Connection, gateway: SalesforceGateway, object_name: str,
                   ids: list[str], *, dag_run_id: str | None) -> SyncRun | None:
    """Stage, validate and load the listed records of one object; returns the sync log row.

    Returns None (requests kept) when the API budget does not allow the reads.
    """
    valid = [i for i in ids if is_salesforce_id(i)]
    queries = -(-len(valid) // IDS_PER_QUERY) + 1  # the describe, then one query per chunk
    budget = gateway.budget
    if budget is not None and not budget.allows(gateway.api_calls, queries):
        budget.stop(gateway.api_calls, queries, f"reading {len(valid)} {object_name}(s) back")
        return None
    run_id = extract_records(ctx, object_name, valid, dag_run_id=dag_run_id, kind=RunKind.RECORD, gateway=gateway,
                             report={"writeback_refresh": len(ids)})
    try:
        final = publish(ctx, run_id)  # a record run: no watermark moves; logs its summary
    except BatchRejected as rejected:
        # The records are in quarantine with their reasons (the differential would put them
        # there too); keeping the requests would only fail every later write-back the same way.
        log.warning("run %d: %s; the refresh requests are dropped", run_id, rejected)
        _drop_requests(wh, object_name, ids)
        return runs.get_run(wh, run_id)
    _drop_requests(wh, object_name, ids)
    return final
