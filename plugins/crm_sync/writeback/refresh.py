"""Read records again from Salesforce into the marketing database, by Id.

Used for the records a write-back created or linked (so the marketing row carries what
Salesforce filled in: owner, status, defaults) and for records whose Salesforce-owned values
were edited on the marketing side or lost a conflict there (so Salesforce's values come
back). The records go through the inbound path — staging, Great Expectations, the load SQL
— as a `record` run in the sync log, in a transaction marked as Salesforce's, so nothing
echoes back. Requests wait in `crm_sync.writeback_refresh` until their load committed.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from typing import Any

import psycopg

from crm_sync import pipeline, runs
from crm_sync.mapping.loader import MappingSet
from crm_sync.normalize import from_rest
from crm_sync.soql import extract_fields, ids_condition, select_query
from crm_sync.staging import stage_rows
from crm_sync.writeback.connection import ApiBudget, SalesforceConnection

log = logging.getLogger(__name__)

IDS_PER_QUERY = 200
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def pending_refreshes(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Requested record Ids by object."""
    pending: dict[str, list[str]] = defaultdict(list)
    for object_name, sf_id in conn.execute(
            "SELECT object, sf_id FROM crm_sync.writeback_refresh ORDER BY object, requested_at, sf_id"):
        pending[object_name].append(sf_id)
    conn.commit()
    return dict(pending)


def refresh_object(wh: psycopg.Connection, connection: SalesforceConnection, budget: ApiBudget,
                   mapping_set: MappingSet, object_name: str, ids: list[str], *,
                   dag_run_id: str | None) -> dict[str, Any] | None:
    """Stage, validate and load the listed records of one object; returns the sync log row.

    Returns None (requests kept) when the API budget does not allow the reads.
    """
    mapping = mapping_set.get(object_name)
    valid = [i for i in ids if _SF_ID.match(i)]
    chunks = [valid[i:i + IDS_PER_QUERY] for i in range(0, len(valid), IDS_PER_QUERY)]
    spent = connection.api_calls
    if not budget.allows(spent, len(chunks)):
        budget.stop(spent, len(chunks), f"reading {len(valid)} {object_name}(s) back")
        return None
    run_id = runs.start_run(wh, object_name=mapping.object, kind="record", dag_run_id=dag_run_id,
                            window_start=None, window_end=None, watermark_before=None)
    wh.commit()
    before = connection.api_calls
    with pipeline.step(wh, run_id, "extract"):
        fields = extract_fields(mapping)
        records: list[dict[str, Any]] = []
        for chunk in chunks:
            soql = select_query(mapping, fields, ids_condition(chunk))
            records += connection.call(f"read {object_name} back",
                                       lambda sf, q=soql: sf.query_all(q, include_deleted=True))["records"]
            used, maximum = connection.usage
            budget.start(used, maximum, connection.api_calls)
        staged = stage_rows(wh, run_id, (from_rest(r) for r in records))
        missing = sorted(set(ids) - {r["Id"] for r in records})
        runs.update_run(wh, run_id, extracted=staged, staged=staged, api_calls=connection.api_calls - before,
                        extract_method="rest", status="extracted",
                        report={"writeback_refresh": len(ids), "not_found": missing})
    if missing:
        log.warning("run %d: %d %s record(s) not found in Salesforce any more: %s", run_id, len(missing),
                    object_name, ", ".join(missing[:20]))
    try:
        pipeline.validate(run_id)
    except pipeline.BatchRejected as rejected:
        # The records are in quarantine with their reasons (the differential would put them
        # there too); keeping the requests would only fail every later write-back the same way.
        log.warning("run %d: %s; the refresh requests are dropped", run_id, rejected)
        wh.execute("DELETE FROM crm_sync.writeback_refresh WHERE object = %s AND sf_id = ANY(%s)",
                   (object_name, ids))
        wh.commit()
        return runs.get_run(wh, run_id)
    pipeline.load(run_id)
    final = pipeline.finalize(run_id)  # a record run: no watermark moves; logs its summary
    wh.execute("DELETE FROM crm_sync.writeback_refresh WHERE object = %s AND sf_id = ANY(%s)", (object_name, ids))
    wh.commit()
    return final
