"""Land extracted records in `crm_staging.records` with COPY, streamed.

REST records arrive as JSON and are written row by row (`stage_rows`). A Bulk API 2.0 CSV
page goes to PostgreSQL as it is (`stage_bulk_page`): COPY into a temporary table, then one
set-based statement builds each row's JSONB payload, typed as `normalize.from_bulk_csv`
types it, so no Python work is done per record. On both paths NUL characters, which
PostgreSQL cannot hold, are removed from the values (`normalize.without_nul`), and a record
without an Id is staged with an empty `sf_id`.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Iterable, Mapping

import psycopg
from psycopg import sql

from crm_sync.normalize import NUL, NUMBER_TYPES, StagingRow, without_nul
from crm_sync.salesforce import FieldInfo

log = logging.getLogger(__name__)

_COPY = "COPY crm_staging.records (run_id, sf_id, system_modstamp, is_deleted, payload) FROM STDIN"
# How json.dumps writes a NUL character (it always escapes control characters).
_ESCAPED_NUL = "\\u0000"


def stage_rows(conn: psycopg.Connection, run_id: int, rows: Iterable[StagingRow], *,
               expected: int | None = None, progress_every: int = 50_000, replace: bool = True) -> int:
    """COPY rows into staging under `run_id`; logs progress on long extracts.

    With `replace` (REST extracts), rows already staged for the run (a retried task) are
    removed first, so a retry never doubles a batch; Bulk pages append. The caller commits.
    """
    if replace:
        conn.execute("DELETE FROM crm_staging.records WHERE run_id = %s", (run_id,))
    staged = cleaned = 0
    started = time.monotonic()
    dumps = json.dumps
    with conn.cursor() as cur, cur.copy(_COPY) as copy:
        for sf_id, modstamp, deleted, payload in rows:
            text = dumps(payload, ensure_ascii=False)
            if _ESCAPED_NUL in text:  # rare: only then are the values looked at one by one
                sf_id, payload = without_nul(sf_id), without_nul(payload)
                text = dumps(payload, ensure_ascii=False)
                cleaned += 1
            copy.write_row((run_id, sf_id, modstamp, deleted, text))
            staged += 1
            if staged % progress_every == 0:
                rate = staged / max(time.monotonic() - started, 1e-6)
                total = f"/{expected}" if expected else ""
                log.info("staged %d%s records (%.0f records/s)", staged, total, rate)
    if cleaned:
        log.warning("removed NUL characters from the values of %d record(s) (PostgreSQL cannot hold them)", cleaned)
    return staged


# jsonb_build_object takes at most 100 arguments: 50 keys per call, the parts joined by ||.
_KEYS_PER_CALL = 50
# COPY the page in slices, so the encoded bytes of a whole page are never held at once.
_COPY_SLICE = 1 << 20


def _json_value(column: str, field: FieldInfo | None) -> sql.Composable:
    """A Bulk CSV cell as the JSON value REST would have returned (see `normalize._typed`)."""
    cell = sql.SQL("NULLIF({}, '')").format(sql.Identifier(column))
    kind = field.type if field else "string"
    if kind == "boolean":
        return sql.SQL("({} = 'true')").format(cell)
    if kind == "int":
        return sql.SQL("{}::numeric").format(cell)
    if kind in NUMBER_TYPES:
        # As Python writes a float: integral values below 1e16 keep a ".0" (99213206.0). The
        # float's shortest text parses back exactly (PostgreSQL prints 1e15 as "1e+15", so the
        # ".0" is added by rounding the numeric, never by appending to the text).
        number = sql.SQL("{}::float8").format(cell)
        return sql.SQL("CASE WHEN {n} = trunc({n}) AND abs({n}) < 1e16 THEN to_jsonb(round(({n}::text)::numeric, 1))"
                       " ELSE to_jsonb({n}) END").format(n=number)
    return cell


def stage_bulk_page(conn: psycopg.Connection, run_id: int, page: str, fields: Mapping[str, FieldInfo]) -> int:
    """Stage one Bulk API 2.0 CSV page (header row first) under `run_id`; returns the rows staged.

    The payload of each row equals `json.dumps` of `normalize.from_bulk_csv`'s payload: every
    column of the header, empty cells as null, booleans, integers and numbers typed by the
    field's describe type; NUL characters removed. The caller commits (the temporary table
    goes with the commit).
    """
    header_end = page.find("\n")
    header_line = page[:header_end if header_end >= 0 else len(page)].rstrip("\r")
    if not header_line.strip():
        return 0
    header = next(csv.reader([header_line.replace(NUL, "")]))
    if NUL in page:
        log.warning("removed %d NUL character(s) from a Bulk page (PostgreSQL cannot hold them)", page.count(NUL))
        page = page.replace(NUL, "")
    conn.execute("DROP TABLE IF EXISTS pg_temp.crm_bulk_page")
    conn.execute(sql.SQL("CREATE TEMP TABLE crm_bulk_page ({}) ON COMMIT DROP").format(
        sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(name)) for name in header)))
    with conn.cursor() as cur, cur.copy("COPY crm_bulk_page FROM STDIN (FORMAT csv, HEADER MATCH)") as copy:
        for start in range(0, len(page), _COPY_SLICE):
            copy.write(page[start:start + _COPY_SLICE])
    pairs = [sql.SQL("{}, {}").format(sql.Literal(name), _json_value(name, fields.get(name.lower())))
             for name in header]
    payload = sql.SQL(" || ").join(
        sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs[i:i + _KEYS_PER_CALL]))
        for i in range(0, len(pairs), _KEYS_PER_CALL))
    return conn.execute(sql.SQL(
        "INSERT INTO crm_staging.records (run_id, sf_id, system_modstamp, is_deleted, payload)"
        " SELECT %s, COALESCE({id}, ''), {modstamp}::timestamptz, COALESCE({deleted}, false), {payload}"
        " FROM crm_bulk_page"
    ).format(id=sql.Identifier("Id"), modstamp=sql.Identifier("SystemModstamp"),
             deleted=_json_value("IsDeleted", FieldInfo("IsDeleted", "boolean", 0, False)), payload=payload),
        (run_id,)).rowcount
