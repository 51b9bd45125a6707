"""Reconciliation: find and repair drift between Salesforce and the marketing database.

Per object, one cheap two-column query (`Id, SystemModstamp`, plus `IsDeleted`) lists what
Salesforce has (Bulk API 2.0 above the Bulk threshold, REST below). In the warehouse it is
compared with what the sync last processed (`crm_sync.synced_records`) and with what the
marketing table holds:

* missing: live in Salesforce, no active marketing row, and not a record the sync skipped
  or quarantined at that same version (those absences are expected and logged elsewhere);
* stale: Salesforce's SystemModstamp is newer than the version the sync last processed;
* deleted but present: deleted in Salesforce (recycle bin), active in marketing;
* gone but present: Salesforce no longer has the Id at all (hard-deleted or purged),
  active in marketing.

Repairs: missing, stale and deleted records are re-synced by Id through the normal
validate / transform / load path; gone records are archived directly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from crm_sync import pipeline, runs
from crm_sync.db import connect
from crm_sync.extract import extract_records
from crm_sync.normalize import from_bulk_csv, from_rest
from crm_sync.pipeline import config
from crm_sync.salesforce import FieldInfo, SalesforceClient
from crm_sync.soql import EXTRA_FIELDS
from crm_sync.sqlfiles import template
from crm_sync.staging import stage_rows

log = logging.getLogger(__name__)

ID_FIELDS = ["Id", "SystemModstamp", "IsDeleted"]
_ID_INFOS = {"id": FieldInfo("Id", "id", 18, False),
             "systemmodstamp": FieldInfo("SystemModstamp", "datetime", 0, False),
             "isdeleted": FieldInfo("IsDeleted", "boolean", 0, False),
             "isconverted": FieldInfo("IsConverted", "boolean", 0, False)}


def _salesforce_ids(wh: psycopg.Connection, sf: SalesforceClient, run_id: int, object_name: str,
                    condition: str | None, bulk_threshold: int, page_size: int) -> str:
    """Stage Salesforce's Ids and SystemModstamps for the run; returns the method used."""
    where = f" WHERE {condition}" if condition else ""
    total = sf.count(f"SELECT COUNT() FROM {object_name}{where}")
    # A converted Lead is absent from marketing on purpose: its Contact carries the person.
    fields = ID_FIELDS + [f for f in EXTRA_FIELDS.get(object_name.lower(), ()) if f == "IsConverted"]
    query = f"SELECT {', '.join(fields)} FROM {object_name}{where}"
    if total > bulk_threshold:
        job_id = sf.start_bulk_query(object_name, query)
        sf.wait_for_bulk_query(object_name, job_id)
        locator = ""
        while True:
            page, locator = sf.bulk_results_page(object_name, job_id, locator, page_size)
            stage_rows(wh, run_id, from_bulk_csv(page, _ID_INFOS), replace=False)
            if not locator:
                return "bulk"
    stage_rows(wh, run_id, (from_rest(r) for page in sf.iter_rest_pages(query) for r in page))
    return "rest"


def _marketing_ids(wh: psycopg.Connection, mk: psycopg.Connection, mapping) -> None:
    """Copy the marketing side's (sf_id, active) pairs of the object into a warehouse temp table."""
    if mapping.is_people:
        idcol = sql.Identifier("lead_sf_id" if mapping.object.lower() == "lead" else "contact_sf_id")
        source = sql.SQL("SELECT {id}, archived_at IS NULL FROM people WHERE {id} IS NOT NULL").format(id=idcol)
    else:
        source = sql.SQL("SELECT sf_id, archived_at IS NULL FROM {} WHERE sf_id IS NOT NULL").format(
            sql.Identifier(mapping.target))
    wh.execute("CREATE TEMP TABLE marketing_ids (sf_id text PRIMARY KEY, active boolean) ON COMMIT DROP")
    with mk.cursor() as src, wh.cursor() as dst:
        with src.copy(sql.SQL("COPY ({}) TO STDOUT").format(source)) as reader, \
                dst.copy("COPY marketing_ids (sf_id, active) FROM STDIN") as writer:
            for block in reader:
                writer.write(block)
    mk.commit()
    wh.execute("ANALYZE marketing_ids")


def reconcile_object(object_name: str, *, dag_run_id: str | None = None, repair: bool = True) -> dict[str, Any]:
    """Compare one object and repair what drifted; returns the findings (also in the sync log)."""
    settings, _, mapping = config(object_name)
    pipeline.prepare(object_name, respect_lock=False)
    with connect(settings.warehouse_conn_id) as wh, connect(settings.marketing_conn_id) as mk:
        watermark = runs.get_watermark(wh, mapping.object)
        if watermark is None:
            log.info("reconcile %s: never synced yet, nothing to compare", mapping.object)
            return {"object": mapping.object, "run_id": None, "drift": {}, "repaired": {}, "api_calls": 0}
        run_id = runs.start_run(wh, object_name=mapping.object, kind="reconcile", dag_run_id=dag_run_id,
                                window_start=None, window_end=None, watermark_before=None)
        wh.commit()
        with pipeline.step(wh, run_id, "compare"):
            sf = SalesforceClient.from_connection(settings.salesforce_conn_id)
            method = _salesforce_ids(wh, sf, run_id, mapping.object, mapping.filter, settings.bulk_threshold,
                                     settings.bulk_page_size)
            _marketing_ids(wh, mk, mapping)
            drift = wh.execute(template("reconcile/drift.sql"),
                               {"run_id": run_id, "object": mapping.object, "watermark": watermark}).fetchall()
            by_kind: dict[str, list[str]] = {}
            for sf_id, kind in drift:
                by_kind.setdefault(kind, []).append(sf_id)
            compared = wh.execute("SELECT count(*) FROM crm_staging.records WHERE run_id = %s",
                                  (run_id,)).fetchone()[0]
            # The Id list is not a batch to publish: it is dropped once compared.
            wh.execute("DELETE FROM crm_staging.records WHERE run_id = %s", (run_id,))
            findings = {kind: len(ids) for kind, ids in sorted(by_kind.items())}
            log.info("reconcile %s: %d Salesforce record(s) compared via %s in %d API calls; drift: %s",
                     mapping.object, compared, method, sf.api_calls, findings or "none")
            runs.update_run(wh, run_id, extracted=compared, api_calls=sf.api_calls, extract_method=method,
                            report={"drift": findings, "sample": {k: v[:20] for k, v in by_kind.items()}})
        repaired: dict[str, int] = {}
        if repair and by_kind:
            gone = by_kind.pop("gone_but_present", [])
            if gone:
                repaired["archived_gone"] = _archive_gone(mk, mapping, gone)
            resync = sorted({sf_id for ids in by_kind.values() for sf_id in ids})
            if resync:
                repair_run = extract_records(mapping.object, resync, dag_run_id=dag_run_id, kind="repair")
                pipeline.validate(repair_run)
                counts = pipeline.load(repair_run)
                pipeline.finalize(repair_run)
                repaired["resynced"] = len(resync)
                repaired["repair_run_id"] = repair_run
                repaired |= {f"repair_{k}": v for k, v in counts.items()}
        runs.update_run(wh, run_id, status="succeeded", report={"repaired": repaired},
                        finished_at=datetime.now(UTC))
        wh.commit()
        return {"object": mapping.object, "run_id": run_id, "drift": findings, "repaired": repaired,
                "api_calls": sf.api_calls}


def _archive_gone(mk: psycopg.Connection, mapping, ids: list[str]) -> int:
    """Archive marketing rows of records Salesforce no longer has at all."""
    with mk.transaction():
        mk.execute("SET LOCAL crm_sync.origin = 'crm'")
        if mapping.is_people:
            is_lead = mapping.object.lower() == "lead"
            parts = {"idcol": sql.Identifier("lead_sf_id" if is_lead else "contact_sf_id"),
                     "othercol": sql.Identifier("contact_sf_id" if is_lead else "lead_sf_id"),
                     "other_object": sql.Literal("Contact" if is_lead else "Lead"),
                     "object": sql.Literal(mapping.object)}
            statement = template("reconcile/archive_gone_people.sql", **parts)
        else:
            statement = template("reconcile/archive_gone_records.sql", target=sql.Identifier(mapping.target),
                                 object=sql.Literal(mapping.object))
        return int(mk.execute(statement, {"ids": ids}).fetchone()[0])
