"""Step 2, extract: Salesforce's records into staging, by window, in full, or by Id.

Each entry point creates (or, for a retried full sync, resumes) a sync log row whose run id
is the staging batch id, and streams the records into `crm_staging.records`: small windows
through REST `queryAll` pages, big ones and full syncs through Bulk API 2.0
(`extract_bulk`). All Salesforce traffic goes through the run's gateway, so its API calls
are counted even when the step fails, and a run that reaches its API budget stops as
`budget_stopped` with its watermark (or its Bulk locators) kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg

from crm_sync import locks, membership, missing_fields, runs
from crm_sync.context import RunContext
from crm_sync.extract_bulk import stage_bulk, staged_rows
from crm_sync.mapping.model import ObjectMapping
from crm_sync.normalize import from_rest
from crm_sync.picklists import record_picklists
from crm_sync.prepare import SyncSkipped
from crm_sync.runs import RunKind, RunStatus
from crm_sync.salesforce import FieldInfo, SalesforceGateway, SalesforceSchemaError
from crm_sync.salesforce.ids import validate_ids
from crm_sync.salesforce.soql import (
    by_ids_queries,
    count_query,
    extract_fields,
    left_filter_condition,
    outside_filter_queries,
    select_query,
    window_condition,
)
from crm_sync.schema_drift import alert_missing_fields, record_drift
from crm_sync.sqlfiles import read_sql
from crm_sync.staging import stage_rows

log = logging.getLogger(__name__)


def extract_changes(ctx: RunContext, object_name: str, *, dag_run_id: str | None = None,
                    now: datetime | None = None) -> int:
    """Stage the records changed in the object's window; returns the run id.

    The window is half-open: `[watermark - lookback, now - safety_lag)`; with no watermark
    yet, everything before the upper bound (the initial import).
    """
    settings, mapping = ctx.settings, ctx.mapping(object_name)
    run_start = now or datetime.now(UTC)
    with ctx.warehouse() as wh:
        watermark = runs.get_watermark(wh, mapping.object)
        window_end = run_start - timedelta(seconds=settings.safety_lag_seconds)
        window_start = None if watermark is None else watermark - timedelta(seconds=settings.lookback_seconds)
        run_id = runs.start_run(wh, object_name=mapping.object, kind=RunKind.DIFFERENTIAL, dag_run_id=dag_run_id,
                                window_start=window_start, window_end=window_end, watermark_before=watermark)
        holder = locks.lock_holder(wh)
        if holder:
            # The full sync took its lock after this run's prepare: the differential waits for it.
            reason = f"full sync {holder} is running; differential syncs wait for it"
            runs.update_run(wh, run_id, status=RunStatus.SKIPPED, error=reason, finished_at=datetime.now(UTC))
            wh.commit()
            raise SyncSkipped(reason)
        abandoned = wh.execute(read_sql("extract/fail_abandoned_runs.sql"),
                               {"object": mapping.object, "by": run_id}).rowcount
        if abandoned:
            log.warning("run %d: %d earlier %s run(s) never finished (their worker stopped): marked failed",
                        run_id, abandoned, mapping.object)
        wh.commit()
        log.info("run %d: %s window [%s, %s)%s", run_id, mapping.object, window_start or "beginning",
                 window_end, "" if watermark else " (initial import: no watermark yet)")
        sf = ctx.salesforce()
        with runs.step(wh, run_id, "extract", gateway=sf):
            stage_window(ctx, wh, sf, run_id, mapping, window_start, window_end)
    return run_id


def extract_full(ctx: RunContext, object_name: str, *, dag_run_id: str, mode: str = "upsert",
                 dry_run: bool = False, now: datetime | None = None) -> int:
    """Stage every record of the object through Bulk API 2.0; returns the run id.

    A retry within the same DAG run resumes the same sync run and its Bulk pages; a run that
    got past its validation is returned as it is, for `publish` to carry on.
    """
    mapping = ctx.mapping(object_name)
    with ctx.warehouse() as wh:
        run_id = runs.find_run(wh, object_name=mapping.object, kind=RunKind.FULL, dag_run_id=dag_run_id)
        if run_id is None:
            window_end = (now or datetime.now(UTC)) - timedelta(seconds=ctx.settings.safety_lag_seconds)
            run_id = runs.start_run(wh, object_name=mapping.object, kind=RunKind.FULL, dag_run_id=dag_run_id,
                                    window_end=window_end, watermark_before=runs.get_watermark(wh, mapping.object),
                                    dry_run=dry_run, report={"mode": mode})
            log.info("run %d: full %s of %s up to %s%s", run_id, mode, mapping.object, window_end,
                     " (dry run)" if dry_run else "")
        elif (reached := runs.resume_point(runs.get_run(wh, run_id))) in (RunStatus.VALIDATED, RunStatus.LOADED):
            # Staged and validated already: `publish` carries on from there.
            log.info("run %d: the full sync of %s resumes after its extraction (%s)", run_id, mapping.object,
                     reached.value)
            return run_id
        else:
            runs.update_run(wh, run_id, status=RunStatus.RUNNING, error=None)
            log.info("run %d: resuming the full sync of %s", run_id, mapping.object)
        wh.commit()
        resumed_end = runs.get_run(wh, run_id).window_end
        assert resumed_end is not None
        sf = ctx.salesforce()
        with runs.step(wh, run_id, "extract", gateway=sf):
            stage_window(ctx, wh, sf, run_id, mapping, None, resumed_end, force_bulk=True)
    return run_id


def extract_records(ctx: RunContext, object_name: str, record_ids: list[str], *, dag_run_id: str | None = None,
                    kind: RunKind = RunKind.RECORD, gateway: SalesforceGateway | None = None,
                    report: dict | None = None) -> int:
    """Stage the listed records now (REST); returns the run id. Ids are validated first.

    Args:
        ctx: the run context.
        object_name: the mapped object of the records.
        record_ids: the Ids, 15 or 18 characters.
        dag_run_id: the Airflow run that asked (for the sync log).
        kind: `record` (record sync, write-back refresh) or `repair` (reconciliation).
        gateway: the caller's gateway (the write-back's refresh shares its budget); a new
            one by default.
        report: extra entries for the run's report.

    Raises:
        InvalidSalesforceId: naming every invalid Id; nothing is queried then.
    """
    ids = validate_ids(record_ids)
    mapping = ctx.mapping(object_name)
    sf = gateway or ctx.salesforce()
    with ctx.warehouse() as wh:
        run_id = runs.start_run(wh, object_name=mapping.object, kind=kind, dag_run_id=dag_run_id)
        wh.commit()
        with runs.step(wh, run_id, "extract", gateway=sf):
            fields = extract_fields(mapping)
            described_fields(wh, sf, run_id, mapping, fields)
            filtered = bool(mapping.filter)
            rows = (from_rest(record) for query in by_ids_queries(mapping, fields, ids, filtered=filtered)
                    for page in sf.iter_rest_pages(query) for record in page)
            staged = stage_rows(wh, run_id, rows)
            found = {row[0] for row in wh.execute(
                "SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s", (run_id,))}
            missing = [i for i in ids if i not in found]
            outside = outside_filter(sf, mapping, missing) if filtered and missing else []
            missing = [i for i in missing if i not in set(outside)]
            if outside:
                log.warning("run %d: %d %s record(s) do not match the mapping's filter (%s): not loaded, their"
                            " marketing rows archived as left_filter: %s", run_id, len(outside), mapping.object,
                            mapping.filter, ", ".join(outside[:50]))
            if missing:
                log.warning("run %d: %d Id(s) not found in Salesforce %s: %s", run_id, len(missing),
                            mapping.object, ", ".join(missing[:50]))
            runs.update_run(wh, run_id, extracted=staged, staged=staged, extract_method="rest",
                            status=RunStatus.EXTRACTED,
                            report={"requested": len(ids), "not_found": missing, **(report or {}),
                                    **({"left_filter": outside} if outside else {})})
    return run_id


def outside_filter(sf: SalesforceGateway, mapping: ObjectMapping, ids: list[str]) -> list[str]:
    """Which of the Ids are live records that do not match the mapping's filter (sorted)."""
    if mapping.memberships:
        return membership.outside_filter(sf, mapping, ids)
    return sorted({str(record["Id"]) for query in outside_filter_queries(mapping, ids)
                   for record in sf.query_records(query)})


def described_fields(wh: psycopg.Connection, sf: SalesforceGateway, run_id: int, mapping: ObjectMapping,
                     fields: list[str]) -> dict[str, FieldInfo]:
    """Describe the object, check the mapped fields exist, record schema drift and picklist changes.

    `to_crm` fields the org lacks are taken out of `fields` (they are never read) and
    reported (`missing_fields`); the run goes on.

    Raises:
        SalesforceSchemaError: a mapped field the sync reads is gone (alerted first).
    """
    try:
        infos = sf.check_fields(mapping.object, fields, mapping.file_name)
    except SalesforceSchemaError as gone:
        if not missing_fields.to_crm_only(mapping, gone.missing):
            alert_missing_fields(mapping, gone.missing)
            raise
        missing_fields.report_missing(wh, run_id, mapping, gone.missing)
        lacking = {name.lower() for name in gone.missing}
        fields[:] = [name for name in fields if name.lower() not in lacking]
        infos = sf.check_fields(mapping.object, fields, mapping.file_name)
    record_drift(wh, run_id, mapping, infos)
    record_picklists(wh, run_id, mapping.object, sf.describe(mapping.object))
    return infos


def stage_window(ctx: RunContext, wh: psycopg.Connection, sf: SalesforceGateway, run_id: int,
                 mapping: ObjectMapping, window_start: datetime | None, window_end: datetime, *,
                 force_bulk: bool = False) -> None:
    """Describe, count, and stream the window's records into staging (REST or Bulk 2.0)."""
    settings = ctx.settings
    fields = extract_fields(mapping)
    infos = described_fields(wh, sf, run_id, mapping, fields)
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
    if mapping.memberships and not force_bulk and window_start is not None:
        # Records that joined or left the list through their membership rows (membership.py).
        extra, entries = membership.stage_membership_changes(wh, sf, run_id, mapping, fields, window_start,
                                                             window_end)
        staged += extra
        report.update(entries)
    elif mapping.filter and not force_bulk and window_start is not None:
        # One more query, of Ids only: records changed in the window that no longer match the
        # filter (the load archives their marketing rows as `left_filter`). The initial import
        # has nothing to archive yet.
        left = select_query(mapping, ["Id"], left_filter_condition(mapping, window_start, window_end))
        report["left_filter"] = sorted({str(r["Id"]) for r in sf.query_records(left)})
    runs.update_run(wh, run_id, extracted=staged, staged=staged, extract_method=method,
                    status=RunStatus.EXTRACTED, report=report)
