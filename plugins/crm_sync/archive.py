"""Archive marketing rows whose Salesforce record is gone, or left the mapping's filter.

One statement per kind of target (`include/sql/archive/`), parametrised by where the Ids
come from: a full sync in mirror mode (every Id the marketing side links that the full batch
does not have), a reconciliation (the Ids it found gone), or a differential or record sync
(the Ids it found outside the mapping's filter). Archived rows are kept, flagged and excluded
from sends; a person still linked to the other object is only unlinked.

A record the marketing side has but the (filtered) read did not return is either gone from
Salesforce, or live and outside the filter: for a mapping with a filter, the Ids are asked
for once more (`extract.outside_filter`) and the live ones are archived as `left_filter`.
A record coming back into the filter is unarchived by the normal upsert.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from crm_sync.extract import outside_filter
from crm_sync.mapping.model import ObjectMapping
from crm_sync.salesforce import SalesforceGateway
from crm_sync.sqlfiles import ident, person_parts, read_sql, target_parts, template

log = logging.getLogger(__name__)

#: The archive reason of a record that no longer matches its mapping's filter.
LEFT_FILTER = "left_filter"
_IDS = sql.SQL("SELECT unnest(%(ids)s::text[]) AS sf_id")


def archive_gone(marketing: psycopg.Connection, mapping: ObjectMapping, gone: sql.Composable, *,
                 reason: str, params: dict | None = None) -> list[str]:
    """Archive the target rows whose Salesforce Id `gone` selects; returns the Ids acted on.

    Runs in the caller's transaction, marked as Salesforce's (no echo to the write-back).
    """
    marketing.execute("SET LOCAL crm_sync.origin = 'crm'")
    parts = person_parts(mapping) if mapping.is_people else target_parts(mapping)
    statement = template("archive/gone_people.sql" if mapping.is_people else "archive/gone_records.sql",
                         gone=gone, reason=sql.Literal(reason), **parts)
    return [str(row[0]) for row in marketing.execute(statement, params or {}).fetchall()]


def archive_ids(marketing: psycopg.Connection, mapping: ObjectMapping, ids: list[str], *, reason: str) -> int:
    """Archive the rows of the listed Ids with `reason`; commits. Returns how many changed."""
    with marketing.transaction():
        return len(archive_gone(marketing, mapping, _IDS, reason=reason, params={"ids": ids}))


def archive_missing(marketing: psycopg.Connection, gateway: SalesforceGateway, mapping: ObjectMapping,
                    ids: list[str], *, reason: str) -> dict[str, int]:
    """Archive rows whose record a filtered read did not return: `left_filter` or `reason` (gone).

    Returns `{"archived_gone": n, "archived_left_filter": m}`; commits.
    """
    left = set(outside_filter(gateway, mapping, ids)) if mapping.filter and ids else set()
    gone = [i for i in ids if i not in left]
    return {"archived_gone": archive_ids(marketing, mapping, gone, reason=reason) if gone else 0,
            "archived_left_filter": archive_ids(marketing, mapping, sorted(left), reason=LEFT_FILTER) if left else 0}


def archive_left_filter(warehouse: psycopg.Connection, marketing: psycopg.Connection, mapping: ObjectMapping,
                        run_id: int, ids: list[str], *, dry_run: bool = False) -> int:
    """Archive the rows of records that left the filter (the run's `left_filter` Ids).

    Each row archived (or person unlinked) is a record event `archived`, reason
    `left_filter`, and counts as extracted and archived; an Id with no active marketing row
    is no record of the sync's. Returns how many (that would be, in a dry run).
    """
    if not ids:
        return 0
    with marketing.transaction():
        archived = archive_gone(marketing, mapping, _IDS, reason=LEFT_FILTER, params={"ids": ids})
        if dry_run:
            raise psycopg.Rollback()
    if archived and not dry_run:
        warehouse.execute(read_sql("archive/left_filter_events.sql"),
                          {"run_id": run_id, "object": mapping.object, "ids": archived, "reason": LEFT_FILTER})
    if archived:
        log.info("run %d: %d %s record(s) left the mapping's filter (%s): archived as %s", run_id, len(archived),
                 mapping.object, mapping.filter, LEFT_FILTER)
    return len(archived)


def archive_absent(warehouse: psycopg.Connection, marketing: psycopg.Connection, mapping: ObjectMapping,
                   run_id: int, *, dry_run: bool = False, gateway: SalesforceGateway | None = None) -> int:
    """Mirror mode: archive target rows whose Id is not in the run's full batch.

    With a mapping filter and a `gateway`, the absent Ids still live in Salesforce are
    archived as `left_filter`, the others as gone. Refuses to act on an empty batch (that
    would archive everything). Returns the number of rows archived (or that would be, in a
    dry run).
    """
    staged = warehouse.execute("SELECT EXISTS (SELECT 1 FROM crm_staging.records WHERE run_id = %s)",
                               (run_id,)).fetchone()
    if not staged or not staged[0]:
        log.warning("run %d staged no %s records: mirror would archive everything, so it does nothing",
                    run_id, mapping.object)
        return 0
    column, table = ident(mapping.sf_id_column), ident(mapping.target)
    absent = sql.SQL("SELECT t.{col} AS sf_id FROM {table} t WHERE t.{col} IS NOT NULL"
                     " AND NOT EXISTS (SELECT 1 FROM sf_ids s WHERE s.sf_id = t.{col})").format(col=column, table=table)
    with marketing.transaction():
        marketing.execute("CREATE TEMP TABLE sf_ids (sf_id text PRIMARY KEY) ON COMMIT DROP")
        with warehouse.cursor() as src, marketing.cursor() as dst:
            with src.copy("COPY (SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s) TO STDOUT",
                          (run_id,)) as reader, dst.copy("COPY sf_ids (sf_id) FROM STDIN") as writer:
                for block in reader:
                    writer.write(block)
        marketing.execute("ANALYZE sf_ids")
        left: list[str] = []
        if mapping.filter and gateway is not None:
            missing = [str(row[0]) for row in marketing.execute(
                sql.SQL("SELECT a.sf_id FROM ({absent}) a JOIN {table} t ON t.{col} = a.sf_id"
                        " WHERE t.archived_at IS NULL").format(absent=absent, table=table, col=column))]
            left = outside_filter(gateway, mapping, missing) if missing else []
        archived = len(archive_gone(marketing, mapping, _IDS, reason=LEFT_FILTER, params={"ids": left}))
        gone = archive_gone(marketing, mapping, absent, reason=f"{mapping.object} no longer in Salesforce")
        log.info("run %d: mirror archived %d %s row(s) gone from Salesforce and %d that left the filter",
                 run_id, len(gone), mapping.object, archived)
        archived += len(gone)
        if dry_run:
            raise psycopg.Rollback()
    warehouse.commit()
    return archived
