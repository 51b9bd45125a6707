"""Mirror mode of the full sync: archive marketing rows whose record Salesforce no longer has.

A full sync stages every record Salesforce has, deleted ones in the recycle bin included
(`queryAll`). A marketing row whose Salesforce Id is not among them was hard-deleted or
purged: mirror archives it (kept, flagged, excluded from sends).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from crm_sync.mapping.model import ObjectMapping
from crm_sync.sqlfiles import template

log = logging.getLogger(__name__)


def archive_absent(warehouse: psycopg.Connection, marketing: psycopg.Connection, mapping: ObjectMapping,
                   run_id: int, *, dry_run: bool = False) -> int:
    """Archive rows of the mapping's target whose Id is not in the run's full batch.

    Refuses to act on an empty batch (that would archive everything). Returns the number of
    rows archived (or that would be, in a dry run).
    """
    staged = warehouse.execute("SELECT count(*) FROM crm_staging.records WHERE run_id = %s",
                               (run_id,)).fetchone()[0]
    if not staged:
        log.warning("run %d staged no %s records: mirror would archive everything, so it does nothing",
                    run_id, mapping.object)
        return 0
    with marketing.transaction():
        marketing.execute("SET LOCAL crm_sync.origin = 'crm'")
        marketing.execute("CREATE TEMP TABLE sf_ids (sf_id text PRIMARY KEY) ON COMMIT DROP")
        with warehouse.cursor() as src, marketing.cursor() as dst:
            with src.copy("COPY (SELECT DISTINCT sf_id FROM crm_staging.records WHERE run_id = %s) TO STDOUT",
                          (run_id,)) as reader, dst.copy("COPY sf_ids (sf_id) FROM STDIN") as writer:
                for block in reader:
                    writer.write(block)
        marketing.execute("ANALYZE sf_ids")
        parts = {"object": sql.Literal(mapping.object), "target": sql.Identifier(mapping.target)}
        if mapping.is_people:
            is_lead = mapping.object.lower() == "lead"
            parts |= {"idcol": sql.Identifier("lead_sf_id" if is_lead else "contact_sf_id"),
                      "othercol": sql.Identifier("contact_sf_id" if is_lead else "lead_sf_id"),
                      "other_object": sql.Literal("Contact" if is_lead else "Lead")}
            statement = template("mirror/people.sql", **parts)
        else:
            statement = template("mirror/records.sql", **parts)
        archived = int(marketing.execute(statement).fetchone()[0])
        if dry_run:
            raise psycopg.Rollback()
    warehouse.commit()
    return archived
