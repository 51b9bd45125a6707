"""Archive marketing rows whose Salesforce record is gone (hard-deleted or purged).

One statement per kind of target (`include/sql/archive/`), parametrised by where the gone
Ids come from: a full sync in mirror mode (every Id the marketing side links that the
full batch does not have) or a reconciliation (the Ids it found gone). Archived rows are
kept, flagged and excluded from sends; a person still linked to the other object is only
unlinked.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from crm_sync.mapping.model import ObjectMapping
from crm_sync.sqlfiles import ident, person_parts, target_parts, template

log = logging.getLogger(__name__)


def archive_gone(marketing: psycopg.Connection, mapping: ObjectMapping, gone: sql.Composable, *,
                 reason: str, params: dict | None = None) -> int:
    """Archive the target rows whose Salesforce Id `gone` selects; returns how many changed.

    Runs in the caller's transaction, marked as Salesforce's (no echo to the write-back).
    """
    marketing.execute("SET LOCAL crm_sync.origin = 'crm'")
    parts = person_parts(mapping) if mapping.is_people else target_parts(mapping)
    statement = template("archive/gone_people.sql" if mapping.is_people else "archive/gone_records.sql",
                         gone=gone, reason=sql.Literal(reason), **parts)
    row = marketing.execute(statement, params or {}).fetchone()
    return int(row[0]) if row else 0


def archive_ids(marketing: psycopg.Connection, mapping: ObjectMapping, ids: list[str], *, reason: str) -> int:
    """Archive the rows of the listed gone Ids (reconciliation); commits."""
    with marketing.transaction():
        return archive_gone(marketing, mapping, sql.SQL("SELECT unnest(%(ids)s::text[]) AS sf_id"),
                            reason=reason, params={"ids": ids})


def archive_absent(warehouse: psycopg.Connection, marketing: psycopg.Connection, mapping: ObjectMapping,
                   run_id: int, *, dry_run: bool = False) -> int:
    """Mirror mode: archive target rows whose Id is not in the run's full batch.

    Refuses to act on an empty batch (that would archive everything). Returns the number of
    rows archived (or that would be, in a dry run).
    """
    staged = warehouse.execute("SELECT EXISTS (SELECT 1 FROM crm_staging.records WHERE run_id = %s)",
                               (run_id,)).fetchone()
    if not staged or not staged[0]:
        log.warning("run %d staged no %s records: mirror would archive everything, so it does nothing",
                    run_id, mapping.object)
        return 0
    column, table = ident(mapping.sf_id_column), ident(mapping.target)
    gone = sql.SQL("SELECT t.{col} AS sf_id FROM {table} t WHERE t.{col} IS NOT NULL"
                   " AND NOT EXISTS (SELECT 1 FROM sf_ids s WHERE s.sf_id = t.{col})").format(col=column, table=table)
    with marketing.transaction():
        marketing.execute("CREATE TEMP TABLE sf_ids (sf_id text PRIMARY KEY) ON COMMIT DROP")
        with warehouse.cursor() as src, marketing.cursor() as dst:
            with src.copy("COPY (SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s) TO STDOUT",
                          (run_id,)) as reader, dst.copy("COPY sf_ids (sf_id) FROM STDIN") as writer:
                for block in reader:
                    writer.write(block)
        marketing.execute("ANALYZE sf_ids")
        archived = archive_gone(marketing, mapping, gone, reason=f"{mapping.object} no longer in Salesforce")
        if dry_run:
            raise psycopg.Rollback()
    warehouse.commit()
    return archived
