"""The floor of each scenario: the same records moved by the least work that can move them.

No staging, no validation, no mapping tables, no sync log: download the same Salesforce
results with the same client calls (same query, same page size), COPY them raw into an
UNLOGGED table, and publish them with one set-based `INSERT … ON CONFLICT` into a table
shaped like the marketing one. For the write-back: the same CSV through one Bulk 2.0
ingest job.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

_SQL_TYPES = {"text": "text", "integer": "numeric", "numeric": "numeric", "boolean": "boolean",
              "date": "date", "timestamp": "timestamptz"}


def salesforce() -> Any:
    """A simple-salesforce client logged in with the stack's Salesforce connection."""
    from simple_salesforce import Salesforce

    conn = json.loads(os.environ["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    extra = conn["extra"]
    return Salesforce(username=conn["login"], password=conn["password"], security_token=extra["security_token"],
                      domain=extra["domain"], version=extra["version"])


def _mapping(object_name: str):
    from crm_sync.mapping.loader import load_mappings
    from crm_sync.paths import mappings_dir

    return load_mappings(mappings_dir()).get(object_name)


def _tables(conn: psycopg.Connection, mapping: Any, fields: list[str]) -> tuple[sql.Composable, sql.Composable]:
    """Create the raw UNLOGGED landing table (one text column per field) and the target table."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    raw = sql.Identifier("bench", f"raw_{mapping.object.lower()}")
    target = sql.Identifier("bench", f"target_{mapping.object.lower()}")
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(raw, target))
    conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
        raw, sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(f)) for f in fields)))
    loaded = mapping.loaded_fields
    conn.execute(sql.SQL("CREATE TABLE {} (sf_id text PRIMARY KEY, system_modstamp timestamptz,"
                         " is_deleted boolean, {})").format(
        target, sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(f.target),
                                                           sql.SQL(_SQL_TYPES[f.type.value]))
                                   for f in loaded)))
    conn.commit()
    return raw, target


def _upsert(conn: psycopg.Connection, mapping: Any, raw: sql.Composable, target: sql.Composable) -> int:
    loaded = mapping.loaded_fields
    columns = [sql.Identifier(f.target) for f in loaded]
    values = [sql.SQL("NULLIF({}, '')::{}").format(sql.Identifier(f.source), sql.SQL(_SQL_TYPES[f.type.value]))
              for f in loaded]
    statement = sql.SQL(
        "INSERT INTO {target} (sf_id, system_modstamp, is_deleted, {columns})"
        " SELECT DISTINCT ON (\"Id\") \"Id\", \"SystemModstamp\"::timestamptz, \"IsDeleted\"::boolean, {values}"
        "   FROM {raw} ORDER BY \"Id\", \"SystemModstamp\" DESC"
        " ON CONFLICT (sf_id) DO UPDATE SET system_modstamp = EXCLUDED.system_modstamp,"
        " is_deleted = EXCLUDED.is_deleted, {sets}"
    ).format(target=target, columns=sql.SQL(", ").join(columns), values=sql.SQL(", ").join(values), raw=raw,
             sets=sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=c) for c in columns))
    return conn.execute(statement).rowcount


def _read_fields(sf: Any, mapping: Any) -> list[str]:
    """The fields the sync reads: the mapping's, without `to_crm` fields the org lacks (never read)."""
    from crm_sync.salesforce.soql import extract_fields

    present = {f["name"].lower() for f in getattr(sf, mapping.object).describe()["fields"]}
    return [name for name in extract_fields(mapping) if name.lower() in present]


def full(object_name: str, dsn: str, page_size: int) -> dict[str, Any]:
    """Bulk 2.0 queryAll of every record (same query and page size as the sync), COPY, one upsert."""
    from simple_salesforce.bulk2 import Operation

    from crm_sync.extract_bulk import FLOOR
    from crm_sync.salesforce.soql import select_query, soql_datetime

    mapping = _mapping(object_name)
    fields = _read_fields(salesforce(), mapping)
    condition = f"SystemModstamp >= {soql_datetime(FLOOR)} AND SystemModstamp < {soql_datetime(datetime.now(UTC))}"
    if mapping.filter:
        condition += f" AND ({mapping.filter})"
    soql = select_query(mapping, fields, condition)
    with psycopg.connect(dsn) as conn:
        raw, target = _tables(conn, mapping, fields)
        started = time.monotonic()
        client = getattr(salesforce().bulk2, mapping.object)._client
        job_id = client.create_job(Operation.query_all, soql)["id"]
        client.wait_for_job(job_id, True, 0.5)
        locator, pages = "", 0
        copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(raw)
        while True:
            page = client.get_query_results(job_id, locator, page_size)
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                copy.write(page["records"])
            pages += 1
            locator = page["locator"] or ""
            if not locator:
                break
        upserted = _upsert(conn, mapping, raw, target)
        conn.commit()
        return {"seconds": time.monotonic() - started, "records": upserted, "pages": pages}


def differential(watermarks: dict[str, str | None], dsn: str, lookback_seconds: int, lag_seconds: int,
                 bulk_threshold: int) -> dict[str, Any]:
    """Per object: the same changed window through REST queryAll, COPY, one upsert."""
    from crm_sync.salesforce.soql import select_query, soql_datetime

    read = {name: _read_fields(salesforce(), _mapping(name)) for name in watermarks}  # describes: not timed
    started = time.monotonic()
    sf = salesforce()
    records = 0
    with psycopg.connect(dsn) as conn:
        for object_name, watermark in watermarks.items():
            mapping = _mapping(object_name)
            fields = read[object_name]
            raw, target = _tables(conn, mapping, fields)
            start = datetime.fromisoformat(watermark) - timedelta(seconds=lookback_seconds)
            end = datetime.now(UTC) - timedelta(seconds=lag_seconds)
            condition = f"SystemModstamp >= {soql_datetime(start)} AND SystemModstamp < {soql_datetime(end)}"
            if mapping.filter:
                condition += f" AND ({mapping.filter})"
            copy_sql = sql.SQL("COPY {} FROM STDIN").format(raw)
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for record in sf.query_all_iter(select_query(mapping, fields, condition), include_deleted=True):
                    copy.write_row([None if record[f] is None else str(record[f]) for f in fields])
            records += _upsert(conn, mapping, raw, target)
            conn.commit()
    return {"seconds": time.monotonic() - started, "records": records}


def writeback(dsn: str) -> dict[str, Any]:
    """The changed lead scores as one CSV (Id, Lead_Score__c) through one Bulk 2.0 update job."""
    from simple_salesforce.bulk2 import Operation

    started = time.monotonic()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT p.contact_sf_id, p.lead_score FROM people p"
                            " JOIN bench.changed_scores c ON c.id = p.id").fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Id", "Lead_Score__c"])
    writer.writerows(rows)
    client = salesforce().bulk2.Contact._client
    job_id = client.create_job(Operation.update)["id"]
    client.upload_job_data(job_id, buffer.getvalue())
    client.close_job(job_id)
    client.wait_for_job(job_id, False, 0.5)
    return {"seconds": time.monotonic() - started, "records": len(rows)}
