"""The console's HTML pages (server-rendered, shown inside Airflow's UI as an external view).

Every page depends on `security.can_view`; their forms call the JSON actions in `api.py`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from crm_sync.console import airflow_api, charts, reports
from crm_sync.console.api import filter_dates
from crm_sync.console.queries import ids_by_email
from crm_sync.console.security import can_view
from crm_sync.salesforce.ids import InvalidSalesforceId, to_18

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_BACKTICKED = re.compile(r"`([^`<>]+)`")
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")

router = APIRouter(dependencies=[can_view], include_in_schema=False)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A short relative time, e.g. '5 min ago', 'in 2 h'."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    text = duration(abs(seconds))
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def duration(seconds: float | Decimal | None) -> str:
    """Seconds as '42 s', '3.5 min', '2.1 h' or '3 d'."""
    if seconds is None:
        return "–"
    value = float(seconds)
    if value < 90:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    if value < 90 * 60:
        return f"{value / 60:.0f} min"
    if value < 48 * 3600:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.0f} d"


def when(moment: datetime | str | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if moment is None:
        return "–"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def inline_code(text: str) -> Markup:
    """Escape text and show its `backticked` names as code."""
    return Markup(_BACKTICKED.sub(r"<code>\1</code>", str(escape(text))))


TEMPLATES.env.filters.update(ago=ago, duration=duration, when=when, inline_code=inline_code)
TEMPLATES.env.globals.update(dag_run_url=airflow_api.dag_run_url, task_log_url=airflow_api.task_log_url)


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the console's base path and the active navigation entry."""
    return TEMPLATES.TemplateResponse(request, name, {"root": _root(request), "page": name.removesuffix(".html"), **context},
                                      status_code=status_code)


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    """Overview: the health of every synced object at a glance."""
    dags = await airflow_api.sync_dags(request)
    data = await run_in_threadpool(reports.overview, dags)
    return render(request, "overview.html", data=data)


@router.get("/history", response_class=HTMLResponse)
async def history_page(request: Request, object: str | None = None, kind: str | None = None,
                       status: str | None = None, date_from: str | None = None,
                       date_to: str | None = None) -> Response:
    """History: runs with their counts, filterable, and charts over them."""
    dates = filter_dates(date_from, date_to)
    data = await run_in_threadpool(lambda: reports.history(object_name=object or None, kind=kind or None,
                                                           status=status or None, date_from=dates[0],
                                                           date_to=dates[1]))
    return render(request, "history.html", data=data, charts=charts.history_charts(data["runs"]))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: int) -> Response:
    """One run: window, counts, step durations, the error explained, links into Airflow."""
    detail = await run_in_threadpool(reports.run_detail, run_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    run = detail["run"]
    tasks = await airflow_api.task_instances(request, detail["dag_id"], run["dag_run_id"]) if run["dag_run_id"] else []
    tasks.sort(key=lambda ti: (ti.get("start_date") or "~", ti["task_id"], ti.get("map_index", -1)))
    return render(request, "run.html", detail=detail, run=run, tasks=tasks)


@router.get("/quarantine", response_class=HTMLResponse)
async def quarantine_page(request: Request, object: str | None = None, reason: str | None = None) -> Response:
    """Quarantine: open records by object and reason; replay or dismiss them."""
    data = await run_in_threadpool(reports.quarantine, object, reason)
    return render(request, "quarantine.html", data=data)


@router.get("/record", response_class=HTMLResponse)
async def record_search(request: Request, q: str = "") -> Response:
    """Find a record by Salesforce Id or email; one match opens its timeline."""
    query = q.strip()
    if _SF_ID.match(query):
        return RedirectResponse(f"{_root(request)}/record/{query}", status_code=303)
    matches = await run_in_threadpool(ids_by_email, query) if "@" in query else []
    if len(matches) == 1:
        return RedirectResponse(f"{_root(request)}/record/{matches[0]}", status_code=303)
    return render(request, "record_search.html", query=query, matches=matches)


@router.get("/record/{sf_id}", response_class=HTMLResponse)
async def record_page(request: Request, sf_id: str) -> Response:
    """Record timeline: every run and write-back that touched one Salesforce record."""
    try:
        case_safe = to_18(sf_id)
    except InvalidSalesforceId as bad:
        raise HTTPException(status_code=422, detail=str(bad)) from bad
    if case_safe != sf_id:  # a 15-character Id, as a Salesforce button's {!Contact.Id} gives it
        return RedirectResponse(f"{_root(request)}/record/{case_safe}", status_code=307)
    data = await run_in_threadpool(reports.timeline, sf_id)
    return render(request, "record.html", data=data)


@router.get("/writeback", response_class=HTMLResponse)
async def writeback_page(request: Request, run_id: int | None = None) -> Response:
    """Write-back: runs, one run's per-record results, Salesforce's rejections."""
    data = await run_in_threadpool(reports.writeback, run_id)
    return render(request, "writeback.html", data=data)
