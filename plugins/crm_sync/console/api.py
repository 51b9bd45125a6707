"""JSON endpoints of the console (under `/crm-sync/api/`): the pages' data and the actions.

Every route depends on `security.can_view`; the actions also need `can_trigger` (replay, sync
now) or `can_edit` (dismiss). Inputs reach SQL only as bind parameters.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from crm_sync.console import actions, airflow_api, reports
from crm_sync.console.security import User, can_edit, can_trigger, can_view

router = APIRouter(prefix="/api", tags=["CRM sync console"], dependencies=[can_view])


class QuarantineSelection(BaseModel):
    """Which open quarantined records an action applies to: chosen ids, or all with one reason."""

    object: str = Field(min_length=1, max_length=80)
    ids: list[int] | None = Field(default=None, max_length=actions.MAX_REPLAY)
    reason: str | None = Field(default=None, max_length=500)


class Dismissal(QuarantineSelection):
    """A dismissal: the selection and why."""

    note: str = Field(min_length=1, max_length=2000)


class SyncNow(BaseModel):
    """A record to sync now."""

    object: str = Field(min_length=1, max_length=80)


def filter_dates(date_from: str | None, date_to: str | None) -> tuple[date | None, date | None]:
    """The history's date filters, parsed; a malformed date is a 422."""
    try:
        return reports.parse_date(date_from), reports.parse_date(date_to)
    except ValueError as bad:
        raise HTTPException(status_code=422, detail=f"dates are YYYY-MM-DD: {bad}") from bad


@router.get("/overview")
async def get_overview(request: Request) -> Any:
    """Per object: last run, lag, next run, open quarantine, row counts, API calls today."""
    dags = await airflow_api.sync_dags(request)
    return jsonable_encoder(await run_in_threadpool(reports.overview, dags))


@router.get("/history")
async def get_history(object: str | None = None, kind: str | None = None, status: str | None = None,
                      date_from: str | None = None, date_to: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=2000)] = 200) -> Any:
    """Runs of the sync log matching the filters, newest first."""
    dates = filter_dates(date_from, date_to)
    found = await run_in_threadpool(lambda: reports.history(object_name=object or None, kind=kind or None,
                                                            status=status or None, date_from=dates[0],
                                                            date_to=dates[1], limit=limit))
    return jsonable_encoder(found)


@router.get("/runs/{run_id}")
async def get_run(run_id: int) -> Any:
    """One run with its step durations and the explained error."""
    detail = await run_in_threadpool(reports.run_detail, run_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return jsonable_encoder(detail)


@router.get("/quarantine")
async def get_quarantine(object: str | None = None, reason: str | None = None) -> Any:
    """Open quarantined records by object and reason (with one group's records when chosen)."""
    return jsonable_encoder(await run_in_threadpool(reports.quarantine, object, reason))


@router.post("/quarantine/replay", dependencies=[can_trigger])
async def post_replay(request: Request, user: User, selection: QuarantineSelection) -> Any:
    """Replay records through `crm_record_sync`, triggered as the signed-in user."""
    return await actions.replay(request, user.get_name(), selection.object, selection.ids, selection.reason)


@router.post("/quarantine/dismiss", dependencies=[can_edit])
async def post_dismiss(user: User, dismissal: Dismissal) -> Any:
    """Dismiss records with a note (status 'dismissed', who and why kept)."""
    return await actions.dismiss(user.get_name(), dismissal.object, dismissal.ids, dismissal.reason,
                                 dismissal.note)


@router.get("/records/{sf_id}")
async def get_record(sf_id: str) -> Any:
    """A record's timeline: every run that touched it and every write-back."""
    return jsonable_encoder(await run_in_threadpool(reports.timeline, sf_id))


@router.post("/records/{sf_id}/sync", dependencies=[can_trigger])
async def post_sync_now(request: Request, sf_id: str, body: Annotated[SyncNow, Body()]) -> Any:
    """Sync one record now through `crm_record_sync`, triggered as the signed-in user."""
    return await actions.sync_records(request, body.object, [sf_id],
                                      f"Sync of {body.object} {sf_id} from the CRM sync console")


@router.get("/writeback")
async def get_writeback(run_id: int | None = None) -> Any:
    """Write-back runs, one run's per-record results, and Salesforce's rejections."""
    return jsonable_encoder(await run_in_threadpool(reports.writeback, run_id))
