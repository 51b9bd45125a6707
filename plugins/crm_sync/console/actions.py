"""The console's actions: replay or dismiss quarantined records, sync one record now.

Replays and "sync now" trigger `crm_record_sync` through Airflow's REST API as the signed-in
user (see `airflow_api`); the quarantine rows are settled only once Airflow accepted the run,
and their note names it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from crm_sync.console import RECORD_SYNC_DAG, airflow_api, reports
from crm_sync.salesforce.ids import InvalidSalesforceId, validate_ids

log = logging.getLogger(__name__)

#: Most records one replay may trigger (one DAG run); larger sets are replayed reason by reason.
MAX_REPLAY = 10_000


async def _selection(object_name: str, ids: list[int] | None, reason: str | None) -> list[dict[str, Any]]:
    if not ids and not reason:
        raise HTTPException(status_code=422, detail="choose records or a reason")
    rows = await run_in_threadpool(reports.quarantined_selection, object_name, ids or None, reason)
    if not rows:
        raise HTTPException(status_code=409, detail="none of these records is open in quarantine any more")
    if len(rows) > MAX_REPLAY:
        raise HTTPException(status_code=422, detail=f"{len(rows)} records; replay at most {MAX_REPLAY} at once")
    return rows


async def sync_records(request: Request, object_name: str, sf_ids: list[str], note: str) -> dict[str, Any]:
    """Trigger `crm_record_sync` for Salesforce Ids of one object, as the caller.

    Raises:
        HTTPException: 422 for invalid Ids; Airflow's status when it refuses the run.
    """
    try:
        ids = validate_ids(sf_ids)
    except InvalidSalesforceId as bad:
        raise HTTPException(status_code=422, detail=str(bad)) from bad
    conf = {"object": object_name, "ids": "\n".join(ids)}
    run = await airflow_api.trigger_dag_run(request, RECORD_SYNC_DAG, conf, note)
    log.info("triggered %s run %s for %d %s record(s)", RECORD_SYNC_DAG, run["dag_run_id"], len(ids), object_name)
    return {"dag_id": RECORD_SYNC_DAG, "dag_run_id": run["dag_run_id"], "object": object_name, "ids": ids,
            "url": airflow_api.dag_run_url(RECORD_SYNC_DAG, run["dag_run_id"])}


async def replay(request: Request, user: str, object_name: str, ids: list[int] | None,
                 reason: str | None) -> dict[str, Any]:
    """Replay the chosen open quarantined records (or all with one reason) in one DAG run."""
    rows = await _selection(object_name, ids, reason)
    sf_ids = list(dict.fromkeys(row["sf_id"] for row in rows))
    what = f"reason {reason!r}" if reason and not ids else f"{len(sf_ids)} selected record(s)"
    triggered = await sync_records(request, object_name, sf_ids,
                                   f"Replay of quarantined {object_name} records ({what}) from the CRM sync console")
    note = f"replayed by {RECORD_SYNC_DAG} run {triggered['dag_run_id']}"
    settled = await run_in_threadpool(reports.resolve_quarantine, [row["quarantine_id"] for row in rows],
                                      status="replayed", note=note, user=user)
    return {**triggered, "settled": len(settled)}


async def dismiss(user: str, object_name: str, ids: list[int] | None, reason: str | None,
                  note: str) -> dict[str, Any]:
    """Dismiss the chosen open quarantined records (or all with one reason) with a note."""
    note = note.strip()
    if not note:
        raise HTTPException(status_code=422, detail="say why the records are dismissed")
    rows = await _selection(object_name, ids, reason)
    settled = await run_in_threadpool(reports.resolve_quarantine, [row["quarantine_id"] for row in rows],
                                      status="dismissed", note=note[:2000], user=user)
    return {"object": object_name, "settled": len(settled), "status": "dismissed"}
