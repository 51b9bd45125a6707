"""Extract steps: a changed window (differential), everything (full), or listed Ids (record).

Each creates (or, for a retried full sync, resumes) a sync log row whose run id is the
staging batch id, and streams Salesforce's records into staging.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg

from crm_sync import runs
from crm_sync.bulk_extract import stage_bulk, staged_rows
from crm_sync.db import connect
from crm_sync.mapping.model import ObjectMapping
from crm_sync.normalize import from_rest
from crm_sync.pipeline import config, step
from crm_sync.salesforce import SalesforceClient
from crm_sync.settings import Settings
from crm_sync.sfids import validate_ids
from crm_sync.soql import count_query, extract_fields, ids_condition, select_query, window_condition
from crm_sync.staging import stage_rows

log = logging.getLogger(__name__)

# Ids per `Id IN (…)` query: keeps the SOQL well under Salesforce's length limit.
IDS_PER_QUERY = 200


def extract_changes(object_name: str, *, dag_run_id: str | None = None, now: datetime | None = None) -> int:
    """Stage the records changed in the object's window; returns the run id.

    The window is half-open: `[watermark - lookback, now - safety_lag)`; with no watermark
    yet, everything before the upper bound (the initial import).
    """
    settings, _, mapping = config(object_name)
    run_start = now or datetime.now(UTC)
    with connect(settings.warehouse_conn_id) as wh:
        watermark = runs.get_watermark(wh, mapping.object)
        window_end = run_start - timedelta(seconds=settings.safety_lag_seconds)
        window_start = None if watermark is None else watermark - timedelta(seconds=settings.lookback_seconds)
        run_id = runs.start_run(wh, object_name=mapping.object, kind="differential", dag_run_id=dag_run_id,
                                window_start=window_start, window_end=window_end, watermark_before=watermark)
        wh.commit()
        log.info("run %d: %s window [%s, %s)%s", run_id, mapping.object, window_start or "beginning",
                 window_end, "" if watermark else " (initial import: no watermark yet)")
        with step(wh, run_id, "extract"):
            stage_window(wh, run_id, mapping, settings, window_start, window_end)
    return run_id


def extract_full(object_name: str, *, dag_run_id: str, mode: str = "upsert", dry_run: bool = False,
                 now: datetime | None = None) -> int:
    """Stage every record of the object through Bulk API 2.0; returns the run id.

    A retry within the same DAG run resumes the same sync run and its Bulk pages.
    """
    settings, _, mapping = config(object_name)
    with connect(settings.warehouse_conn_id) as wh:
        run_id = runs.find_run(wh, object_name=mapping.object, kind="full", dag_run_id=dag_run_id)
        if run_id is None:
            window_end = (now or datetime.now(UTC)) - timedelta(seconds=settings.safety_lag_seconds)
            run_id = runs.start_run(wh, object_name=mapping.object, kind="full", dag_run_id=dag_run_id,
                                    window_start=None, window_end=window_end,
                                    watermark_before=runs.get_watermark(wh, mapping.object),
                                    dry_run=dry_run, report={"mode": mode})
            log.info("run %d: full %s of %s up to %s%s", run_id, mode, mapping.object, window_end,
                     " (dry run)" if dry_run else "")
        else:
            runs.update_run(wh, run_id, status="running", error=None)
            log.info("run %d: resuming the full sync of %s", run_id, mapping.object)
        wh.commit()
        window_end = runs.get_run(wh, run_id)["window_end"]
        with step(wh, run_id, "extract"):
            stage_window(wh, run_id, mapping, settings, None, window_end, force_bulk=True)
    return run_id


def extract_records(object_name: str, record_ids: list[str], *, dag_run_id: str | None = None,
                    kind: str = "record") -> int:
    """Stage the listed records now (REST); returns the run id. Ids are validated first.

    Raises:
        InvalidSalesforceId: naming every invalid Id; nothing is queried then.
    """
    ids = validate_ids(record_ids)
    settings, _, mapping = config(object_name)
    with connect(settings.warehouse_conn_id) as wh:
        run_id = runs.start_run(wh, object_name=mapping.object, kind=kind, dag_run_id=dag_run_id,
                                window_start=None, window_end=None, watermark_before=None)
        wh.commit()
        with step(wh, run_id, "extract"):
            sf = SalesforceClient.from_connection(settings.salesforce_conn_id)
            fields = extract_fields(mapping)
            sf.check_fields(mapping.object, fields, f"{mapping.object.lower()}.yaml")
            chunks = [ids[i:i + IDS_PER_QUERY] for i in range(0, len(ids), IDS_PER_QUERY)]
            rows = (from_rest(record) for chunk in chunks
                    for page in sf.iter_rest_pages(select_query(mapping, fields, ids_condition(chunk)))
                    for record in page)
            staged = stage_rows(wh, run_id, rows)
            found = {row[0] for row in wh.execute(
                "SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s", (run_id,))}
            missing = [i for i in ids if i not in found]
            if missing:
                log.warning("run %d: %d Id(s) not found in Salesforce %s: %s", run_id, len(missing),
                            mapping.object, ", ".join(missing[:50]))
            runs.update_run(wh, run_id, extracted=staged, staged=staged, api_calls=sf.api_calls,
                            extract_method="rest", status="extracted",
                            report={"requested": len(ids), "not_found": missing})
    return run_id


def stage_window(wh: psycopg.Connection, run_id: int, mapping: ObjectMapping, settings: Settings,
                 window_start: datetime | None, window_end: datetime, *, force_bulk: bool = False) -> None:
    """Describe, count, and stream the window's records into staging (REST or Bulk 2.0)."""
    sf = SalesforceClient.from_connection(settings.salesforce_conn_id)
    fields = extract_fields(mapping)
    infos = sf.check_fields(mapping.object, fields, f"{mapping.object.lower()}.yaml")
    condition = window_condition(mapping, window_start, window_end)
    total = sf.count(count_query(mapping, condition))
    method = "bulk" if force_bulk or total > settings.bulk_threshold else "rest"
    log.info("run %d: %d %s record(s) in the window; extracting with %s", run_id, total, mapping.object,
             "Bulk API 2.0" if method == "bulk" else "REST queryAll")
    report: dict = {}
    if method == "bulk":
        report = stage_bulk(wh, sf, run_id, mapping, fields, infos, window_start=window_start,
                            window_end=window_end, page_size=settings.bulk_page_size,
                            max_splits=settings.bulk_max_splits, expected=total)
        # Counted page by page as staged: a count(*) of the run would re-read a million rows.
        staged = staged_rows(wh, run_id)
    else:
        query = select_query(mapping, fields, condition)
        staged = stage_rows(wh, run_id, (from_rest(r) for page in sf.iter_rest_pages(query) for r in page),
                            expected=total)
    previous_calls = runs.get_run(wh, run_id)["api_calls"]
    runs.update_run(wh, run_id, extracted=staged, staged=staged, api_calls=previous_calls + sf.api_calls,
                    extract_method=method, status="extracted", report=report)
