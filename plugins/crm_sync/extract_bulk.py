"""Bulk API 2.0 extraction into staging: resumable page by page, split on failure.

Each run's Bulk work is a set of SystemModstamp ranges in `crm_sync.bulk_jobs`. A range's
pages are staged and committed one at a time together with the locator of the next page,
so a retried task continues where the last attempt stopped. A job that fails or times out
is replaced by two jobs over the halves of its range (up to `max_splits` times), because
Salesforce's usual cure for a query that is too big to finish is a smaller query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg

from crm_sync.db import scalar
from crm_sync.mapping.model import ObjectMapping
from crm_sync.salesforce import BulkJobFailed, FieldInfo, SalesforceGateway
from crm_sync.salesforce.soql import range_query
from crm_sync.staging import stage_bulk_page

log = logging.getLogger(__name__)

# No SystemModstamp is older than Salesforce itself; the first range starts here.
FLOOR = datetime(1999, 1, 1, tzinfo=UTC)


def _ranges(wh: psycopg.Connection, run_id: int) -> list[tuple]:
    return wh.execute(
        "SELECT range_start, range_end, job_id, state, next_locator, pages_staged, rows_staged"
        " FROM crm_sync.bulk_jobs WHERE run_id = %s AND state NOT IN ('done', 'split')"
        " ORDER BY range_start", (run_id,)).fetchall()


def _update(wh: psycopg.Connection, run_id: int, start: datetime, end: datetime, **values: object) -> None:
    sets = ", ".join(f"{column} = %s" for column in values)
    wh.execute(f"UPDATE crm_sync.bulk_jobs SET {sets}, updated_at = now()"
               " WHERE run_id = %s AND range_start = %s AND range_end = %s",
               (*values.values(), run_id, start, end))


def _forget_range(wh: psycopg.Connection, run_id: int, start: datetime, end: datetime) -> None:
    """Remove what a range staged (before it is split or restarted)."""
    wh.execute("DELETE FROM crm_staging.records WHERE run_id = %s AND system_modstamp >= %s"
               " AND system_modstamp < %s", (run_id, start, end))


def staged_rows(wh: psycopg.Connection, run_id: int) -> int:
    """Rows the run's Bulk ranges have staged, as counted in each page's own transaction."""
    return int(scalar(wh, "SELECT COALESCE(sum(rows_staged), 0)::bigint FROM crm_sync.bulk_jobs"
                          " WHERE run_id = %s AND state <> 'split'", (run_id,)))


def _stage_pages(wh: psycopg.Connection, sf: SalesforceGateway, prefetch: ThreadPoolExecutor, run_id: int,
                 mapping: ObjectMapping, job_id: str, locator: str, infos: Mapping[str, FieldInfo], *,
                 start: datetime, end: datetime, page_size: int, pages: int, rows: int, started: float,
                 expected: int | None) -> tuple[int, int]:
    """Stage a job's pages from `locator` on; returns the range's pages and rows staged.

    The next page downloads in `prefetch` (one thread) while this one is staged, so at most
    two pages are held. Each page still commits with the locator of the page after it: a
    retry resumes at the first page not committed, and a prefetched page that was not
    staged is simply requested again.
    """
    def fetch(at: str) -> tuple[str, str]:
        return sf.bulk_results_page(mapping.object, job_id, at, page_size)

    upcoming = prefetch.submit(fetch, locator)
    try:
        while True:
            page, locator = upcoming.result()
            if locator:
                upcoming = prefetch.submit(fetch, locator)
            staged = stage_bulk_page(wh, run_id, page, infos)
            del page
            pages, rows = pages + 1, rows + staged
            _update(wh, run_id, start, end, next_locator=locator, pages_staged=pages, rows_staged=rows,
                    state="staging" if locator else "done")
            wh.commit()
            total = staged_rows(wh, run_id)
            rate = total / max(time.monotonic() - started, 1e-6)
            log.info("staged Bulk page %d of job %s: %d rows (%d%s in all, %.0f records/s)", pages,
                     job_id, staged, total, f"/{expected}" if expected else "", rate)
            if not locator:
                return pages, rows
    finally:
        upcoming.cancel()


def stage_bulk(wh: psycopg.Connection, sf: SalesforceGateway, run_id: int, mapping: ObjectMapping,
               fields: list[str], infos: Mapping[str, FieldInfo], *, window_start: datetime | None,
               window_end: datetime, page_size: int, max_splits: int, expected: int | None = None) -> dict:
    """Stage the window's records through Bulk API 2.0; returns what it did (for the report).

    Safe to call again for the same run after a failure: finished ranges are kept, an
    interrupted range resumes from its next page.
    """
    wh.execute("INSERT INTO crm_sync.bulk_jobs (run_id, range_start, range_end) VALUES (%s, %s, %s)"
               " ON CONFLICT DO NOTHING", (run_id, window_start or FLOOR, window_end))
    wh.commit()
    splits, resumed, started = 0, 0, time.monotonic()
    while pending := _ranges(wh, run_id):
        start, end, job_id, state, locator, pages, rows = pending[0]
        depth = round((window_end - (window_start or FLOOR)) / (end - start)).bit_length() - 1
        try:
            if state == "staging" and job_id:
                resumed += 1
                log.info("resuming Bulk job %s at page %d (%d rows already staged)", job_id, pages + 1, rows)
                if not pages:
                    sf.wait_for_bulk_query(mapping.object, job_id)
            else:
                job_id = sf.start_bulk_query(mapping.object, range_query(mapping, fields, start, end))
                _update(wh, run_id, start, end, job_id=job_id, state="staging", next_locator="")
                wh.commit()
                sf.wait_for_bulk_query(mapping.object, job_id)
                locator = ""
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-prefetch") as prefetch:
                pages, rows = _stage_pages(wh, sf, prefetch, run_id, mapping, job_id, locator or "", infos,
                                           start=start, end=end, page_size=page_size, pages=pages, rows=rows,
                                           started=started, expected=expected)
        except BulkJobFailed as failure:
            wh.rollback()
            _forget_range(wh, run_id, start, end)
            if depth >= max_splits:
                _update(wh, run_id, start, end, state="failed", error=str(failure)[:2000])
                wh.commit()
                raise
            middle = start + (end - start) / 2
            log.warning("%s; splitting its range [%s, %s) at %s", failure, start, end, middle)
            _update(wh, run_id, start, end, state="split", error=str(failure)[:2000])
            wh.execute("INSERT INTO crm_sync.bulk_jobs (run_id, range_start, range_end)"
                       " VALUES (%s, %s, %s), (%s, %s, %s) ON CONFLICT DO NOTHING",
                       (run_id, start, middle, run_id, middle, end))
            wh.commit()
            splits += 1
    # Fresh statistics for the run just staged: the validate, load and finalize statements
    # that follow plan their joins on them (autovacuum would analyze only later). Not the
    # payload: no plan uses its statistics, and sampling it costs most of the ANALYZE.
    wh.execute("ANALYZE crm_staging.records (row_id, run_id, sf_id, system_modstamp, is_deleted)")
    wh.commit()
    return {"bulk_splits": splits, "bulk_resumed_ranges": resumed}
