"""What each console page shows, read from the sync log and its neighbours (no Airflow needed).

The functions return plain dicts and lists, used both by the JSON endpoints (`api.py`) and
the HTML pages (`pages.py`).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_sync.console import queries
from crm_sync.console.advice import explain_error
from crm_sync.mapping.loader import load_mappings
from crm_sync.mapping.model import FieldMap
from crm_sync.paths import mappings_dir
from crm_sync.settings import load_settings

#: How many of an object's latest runs decide "failing" or "skipped repeatedly".
RECENT_RUNS = 3
#: How long the overview shows an object's last schema drift.
DRIFT_SHOWN_FOR = timedelta(days=7)
#: Optional daily Salesforce API budget shown on the overview when no run reported the org's.
API_BUDGET_VARIABLE = "CRM_CONSOLE_API_DAILY_BUDGET"

STEP_ORDER = ("prepare", "extract", "validate", "load", "finalize", "compare", "write")


def _now() -> datetime:
    return datetime.now(UTC)


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _dag_id(object_name: str) -> str:
    return f"crm_differential_{object_name.lower()}"


def dag_id_for_run(run: dict[str, Any]) -> str:
    """The Airflow DAG that ran one sync-log row."""
    return {
        "differential": _dag_id(run["object"]),
        "full": "crm_full_sync",
        "record": "crm_record_sync",
        "reconcile": "crm_reconcile",
        "repair": "crm_reconcile",
        "writeback": "crm_writeback",
    }.get(run["kind"], _dag_id(run["object"]))


def object_health(row: dict[str, Any], interval: timedelta, now: datetime) -> list[str]:
    """Why an object needs attention: 'never synced', 'stale', 'failing', 'skipped repeatedly'.

    Args:
        row: One row of `overview.sql`.
        interval: The differential schedule.
        now: The current time.
    """
    problems = []
    last_success = row["last_success_at"]
    if row["last_run_id"] is None:
        problems.append("never synced")
    elif last_success is None or now - last_success > 2 * interval:
        problems.append("stale")
    recent = list(row["recent_statuses"] or [])
    if row["last_status"] == "failed":
        problems.append("failing")
    if len(recent) >= 2 and all(status == "skipped" for status in recent[:2]):
        problems.append("skipped repeatedly")
    return problems


def api_budget(api_usage: dict[str, Any] | None) -> int | None:
    """The daily API budget: the org's as a run last reported it, else the console's setting."""
    if api_usage and api_usage.get("max"):
        return int(api_usage["max"])
    raw = os.environ.get(API_BUDGET_VARIABLE, "").strip()
    return int(raw) if raw.isdigit() else None


def overview(dags: dict[str, dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """Per object: last run, lag, next run, open quarantine, counts, API calls; plus totals.

    Args:
        dags: The sync's Airflow DAGs by id (for the next scheduled run and paused state).
        now: The current time (default: now).
    """
    now = now or _now()
    settings = load_settings()
    mappings = load_mappings(mappings_dir()).objects
    with queries.warehouse() as wh:
        rows = queries.fetch_all(wh, "overview", {"objects": [m.object for m in mappings],
                                                  "day_start": _day_start(now), "recent": RECENT_RUNS,
                                                  "drift_since": now - DRIFT_SHOWN_FOR})
        api = queries.fetch_one(wh, "api_today", {"day_start": _day_start(now)}) or {}
    counts = queries.marketing_counts(list(mappings))
    objects = []
    for row in rows:
        dag = dags.get(_dag_id(row["object"]), {})
        watermark = row["watermark"]
        objects.append({
            **row,
            "dag_id": _dag_id(row["object"]),
            "lag_seconds": (now - watermark).total_seconds() if watermark else None,
            "next_run": dag.get("next_dagrun_run_after"),
            "paused": dag.get("is_paused"),
            "marketing_count": counts.get(row["object"]),
            "problems": object_health(row, settings.interval, now),
            "drift": drift_summary(row["schema_drift"]) + picklist_summary(row["picklist_changes"]),
        })
    return {
        "objects": objects,
        "interval_minutes": settings.interval_minutes,
        "api_calls_today": int(api.get("api_calls") or 0),
        "api_budget": api_budget(api.get("api_usage")),
        "api_usage": api.get("api_usage"),
        "generated_at": now,
    }


def drift_summary(drift: dict[str, Any] | None) -> list[str]:
    """Schema drift as a run's report records it, in short phrases ("new: A, B")."""
    if not drift:
        return []
    phrases = [f"{label}: {', '.join(sorted(drift[key]))}" for key, label in (("new", "new"), ("removed", "removed"))
               if drift.get(key)]
    changed = drift.get("changed") or {}
    if changed:
        phrases.append("type changed: " + ", ".join(f"{name} ({types[0]} → {types[1]})"
                                                      for name, types in sorted(changed.items())))
    return phrases


def picklist_summary(changes: dict[str, dict[str, list[str]]] | None) -> list[str]:
    """Picklist changes as a run's report records them, one phrase per field ("Industry: new Mining")."""
    return [f"{field}: " + ", ".join(f"{kind} {', '.join(values)}" for kind, values in entry.items())
            for field, entry in sorted((changes or {}).items())]


def parse_date(value: str | None) -> date | None:
    """A filter's date (`YYYY-MM-DD`); empty means no filter.

    Raises:
        ValueError: for anything else.
    """
    if value is None or not value.strip():
        return None
    return date.fromisoformat(value.strip())


def history(*, object_name: str | None, kind: str | None, status: str | None, date_from: date | None,
            date_to: date | None, limit: int = 200) -> dict[str, Any]:
    """Runs matching the filters (newest first) and the values the filters can take."""
    params = {"object": object_name, "kind": kind, "status": status, "date_from": date_from,
              "date_to": date_to, "limit": limit}
    with queries.warehouse() as wh:
        runs = queries.fetch_all(wh, "history", params)
        choices = queries.fetch_one(wh, "history_choices") or {}
    for run in runs:
        run["dag_id"] = dag_id_for_run(run)
    return {"runs": runs, "filters": params,
            "choices": {key: choices.get(key) or [] for key in ("objects", "kinds", "statuses")}}


def run_detail(run_id: int) -> dict[str, Any] | None:
    """One run: its row, ordered step durations and the explained error; None if unknown."""
    with queries.warehouse() as wh:
        run = queries.fetch_one(wh, "run", {"run_id": run_id})
    if run is None:
        return None
    durations = run["durations"] or {}
    steps = sorted(durations.items(), key=lambda item: (STEP_ORDER.index(item[0])
                                                        if item[0] in STEP_ORDER else len(STEP_ORDER), item[0]))
    advice = explain_error(run["error"])
    return {"run": run, "dag_id": dag_id_for_run(run), "steps": steps,
            "advice": {"title": advice.title, "fix": advice.fix} if advice else None}


def _mapped_fields(object_name: str | None) -> list[FieldMap]:
    """The fields of an object's mapping (none for an object no mapping file names any more)."""
    mapping = next((m for m in load_mappings(mappings_dir()).objects if m.object == object_name), None)
    return list(mapping.fields) if mapping else []


def quarantine(object_name: str | None = None, reason: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Open records grouped by object and reason; with a group chosen, its records."""
    with queries.warehouse() as wh:
        groups = queries.fetch_all(wh, "quarantine_groups")
        fields = _mapped_fields(object_name)
        records = (queries.fetch_all(wh, "quarantine_records",
                                     {"object": object_name, "reason": reason, "limit": limit,
                                      "sources": [f.source for f in fields], "targets": [f.target for f in fields]})
                   if object_name and reason else [])
    return {"groups": groups, "records": records, "object": object_name, "reason": reason}


def quarantined_selection(object_name: str, ids: list[int] | None, reason: str | None) -> list[dict[str, Any]]:
    """The open quarantined records an action applies to: the chosen ones or all with a reason."""
    with queries.warehouse() as wh:
        return queries.fetch_all(wh, "quarantine_selected", {"object": object_name, "ids": ids, "reason": reason})


def resolve_quarantine(ids: list[int], *, status: str, note: str, user: str) -> list[dict[str, Any]]:
    """Settle open quarantined records as 'replayed' or 'dismissed'; returns the rows changed."""
    if status not in ("replayed", "dismissed"):
        raise ValueError(f"unknown resolution {status!r}")
    with queries.warehouse() as wh:
        rows = queries.fetch_all(wh, "quarantine_resolve", {"status": status, "note": note, "user": user, "ids": ids})
        wh.commit()
    return rows


def timeline(sf_id: str) -> dict[str, Any]:
    """Everything the sync did with one record: runs, quarantine entries and write-backs."""
    with queries.warehouse() as wh:
        record = queries.fetch_one(wh, "timeline_record", {"sf_id": sf_id})
        events = queries.fetch_all(wh, "timeline_events", {"sf_id": sf_id})
        quarantined = queries.fetch_all(wh, "timeline_quarantine", {"sf_id": sf_id})
        writebacks = queries.fetch_all(wh, "timeline_writebacks", {"sf_id": sf_id})
    for event in events:
        event["dag_id"] = dag_id_for_run({"kind": event["kind"], "object": event["object"]})
    object_name = (record or {}).get("object") or next(
        (row["object"] for row in events + quarantined + writebacks), None)
    return {"sf_id": sf_id, "object": object_name, "record": record, "events": events,
            "quarantine": quarantined, "writebacks": writebacks}


def writeback(run_id: int | None = None, limit: int = 200) -> dict[str, Any]:
    """Write-back runs, one run's per-record results, and Salesforce's latest rejections."""
    with queries.warehouse() as wh:
        runs = queries.fetch_all(wh, "writeback_runs", {"limit": limit})
        results = queries.fetch_all(wh, "writeback_results", {"run_id": run_id, "limit": 1000}) if run_id else []
        rejections = queries.fetch_all(wh, "writeback_rejections", {"limit": limit})
    if rejections:
        with queries.marketing() as mk:
            for rejection in rejections:
                rejection["marketing_row"] = queries.marketing_row(mk, rejection["marketing_table"],
                                                                   rejection["marketing_id"])
    return {"runs": runs, "run_id": run_id, "results": results, "rejections": rejections}
