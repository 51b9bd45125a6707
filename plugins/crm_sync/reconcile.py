"""Reconciliation: find and repair drift between Salesforce and the marketing database.

Per object, one cheap query (`Id, SystemModstamp, IsDeleted`) lists what Salesforce has
(Bulk API 2.0 above the Bulk threshold, REST below). In the warehouse it is compared with
what the sync last processed (`crm_sync.synced_records`) and with what the marketing table
holds:

* missing: live in Salesforce, no active marketing row, and not a record the sync skipped
  or quarantined at that same version (those absences are expected and logged elsewhere);
* stale: Salesforce's SystemModstamp is newer than the version the sync last processed;
* deleted but present: deleted in Salesforce (recycle bin), active in marketing;
* gone but present: Salesforce no longer has the Id at all (hard-deleted or purged),
  active in marketing;
* value drift: the version is the one the sync last published, but the marketing row's
  Salesforce-owned values are no longer the ones that load left: the hash of those columns
  (`transform.value_hash`, computed in the marketing database) differs from the one stored
  in `crm_sync.synced_records.value_hash`. Costs no Salesforce call beyond the Id list.

Repairs: missing, stale, deleted and value-drifted records are re-synced by Id through
`publish` as a `repair` run; gone records are archived (`archive.archive_missing`; a live
record outside the mapping's filter as `left_filter`). The reconcile run's own sync log row
extracts nothing to publish: what it compared is in its report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from crm_sync import runs
from crm_sync.archive import archive_missing
from crm_sync.context import RunContext
from crm_sync.db import scalar
from crm_sync.extract import extract_records
from crm_sync.load import shared_person_columns
from crm_sync.mapping.model import ObjectMapping
from crm_sync.normalize import from_bulk_csv, from_rest
from crm_sync.prepare import prepare_object
from crm_sync.publish import publish
from crm_sync.runs import RunKind, RunStatus
from crm_sync.salesforce import FieldInfo, SalesforceGateway
from crm_sync.salesforce.soql import identity_query
from crm_sync.sqlfiles import ident, template
from crm_sync.staging import stage_rows
from crm_sync.transform import value_hash

log = logging.getLogger(__name__)

_ID_INFOS = {"id": FieldInfo("Id", "id", 18, False),
             "systemmodstamp": FieldInfo("SystemModstamp", "datetime", 0, False),
             "isdeleted": FieldInfo("IsDeleted", "boolean", 0, False),
             "isconverted": FieldInfo("IsConverted", "boolean", 0, False)}


def _stage_salesforce_ids(wh: psycopg.Connection, sf: SalesforceGateway, run_id: int, mapping: ObjectMapping,
                          bulk_threshold: int, page_size: int) -> str:
    """Stage Salesforce's Ids and SystemModstamps for the run; returns the method used."""
    count, query = identity_query(mapping)
    if sf.count(count) > bulk_threshold:
        job_id = sf.start_bulk_query(mapping.object, query)
        sf.wait_for_bulk_query(mapping.object, job_id)
        locator = ""
        while True:
            page, locator = sf.bulk_results_page(mapping.object, job_id, locator, page_size)
            stage_rows(wh, run_id, from_bulk_csv(page, _ID_INFOS), replace=False)
            if not locator:
                return "bulk"
    stage_rows(wh, run_id, (from_rest(r) for page in sf.iter_rest_pages(query) for r in page))
    return "rest"


def _copy_marketing_ids(wh: psycopg.Connection, mk: psycopg.Connection, mapping: ObjectMapping,
                        shared: frozenset[str] | None) -> None:
    """Copy the marketing side's (sf_id, active, value hash) of the object into a warehouse temp table."""
    source = sql.SQL("SELECT t.{id}, t.archived_at IS NULL, {hash} FROM {table} t WHERE t.{id} IS NOT NULL").format(
        id=ident(mapping.sf_id_column), table=ident(mapping.target), hash=value_hash(mapping, shared))
    wh.execute("CREATE TEMP TABLE marketing_ids (sf_id text PRIMARY KEY, active boolean, value_hash text)"
               " ON COMMIT DROP")
    with mk.cursor() as src, wh.cursor() as dst:
        with src.copy(sql.SQL("COPY ({}) TO STDOUT").format(source)) as reader, \
                dst.copy("COPY marketing_ids (sf_id, active, value_hash) FROM STDIN") as writer:
            for block in reader:
                writer.write(block)
    mk.commit()
    wh.execute("ANALYZE marketing_ids")


def reconcile_object(ctx: RunContext, object_name: str, *, dag_run_id: str | None = None,
                     repair: bool = True) -> dict[str, Any]:
    """Compare one object and repair what drifted; returns the findings (also in the sync log)."""
    settings, mapping = ctx.settings, ctx.mapping(object_name)
    prepare_object(ctx, object_name, respect_lock=False)
    with ctx.warehouse() as wh, ctx.marketing() as mk:
        watermark = runs.get_watermark(wh, mapping.object)
        if watermark is None:
            log.info("reconcile %s: never synced yet, nothing to compare", mapping.object)
            return {"object": mapping.object, "run_id": None, "drift": {}, "repaired": {}, "api_calls": 0}
        run_id = runs.start_run(wh, object_name=mapping.object, kind=RunKind.RECONCILE, dag_run_id=dag_run_id)
        wh.commit()
        sf = ctx.salesforce()
        with runs.step(wh, run_id, "compare", gateway=sf):
            method = _stage_salesforce_ids(wh, sf, run_id, mapping, settings.bulk_threshold,
                                           settings.bulk_page_size)
            _copy_marketing_ids(wh, mk, mapping, shared_person_columns(ctx, mapping))
            drift = wh.execute(template("reconcile/drift.sql"),
                               {"run_id": run_id, "object": mapping.object, "watermark": watermark}).fetchall()
            by_kind: dict[str, list[str]] = {}
            for sf_id, kind in drift:
                by_kind.setdefault(kind, []).append(sf_id)
            compared = int(scalar(wh, "SELECT count(*) FROM crm_staging.records WHERE run_id = %s", (run_id,)))
            # The Id list is not a batch to publish: it is dropped once compared.
            wh.execute("DELETE FROM crm_staging.records WHERE run_id = %s", (run_id,))
            findings = {kind: len(ids) for kind, ids in sorted(by_kind.items())}
            log.info("reconcile %s: %d Salesforce record(s) compared via %s in %d API calls; drift: %s",
                     mapping.object, compared, method, sf.api_calls, findings or "none")
            runs.update_run(wh, run_id, extract_method=method,
                            report={"compared": compared, "drift": findings,
                                    "sample": {k: v[:20] for k, v in by_kind.items()}})
        repaired: dict[str, Any] = {}
        if repair and by_kind:
            gone = by_kind.pop("gone_but_present", [])
            if gone:
                repaired |= archive_missing(
                    mk, sf, mapping, gone, reason=f"{mapping.object} no longer in Salesforce (reconciliation)")
            resync = sorted({sf_id for ids in by_kind.values() for sf_id in ids})
            if resync:
                repair_run = extract_records(ctx, mapping.object, resync, dag_run_id=dag_run_id,
                                             kind=RunKind.REPAIR)
                final = publish(ctx, repair_run)
                repaired |= {"resynced": len(resync), "repair_run_id": repair_run, "repair_created": final.created,
                             "repair_updated": final.updated, "repair_archived": final.archived,
                             "repair_unchanged": final.unchanged}
        runs.update_run(wh, run_id, status=RunStatus.SUCCEEDED, report={"repaired": repaired},
                        finished_at=datetime.now(UTC))
        wh.commit()
        return {"object": mapping.object, "run_id": run_id, "drift": findings, "repaired": repaired,
                "api_calls": sf.api_calls}
