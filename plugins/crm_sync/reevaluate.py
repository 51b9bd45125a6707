"""Skips whose cause went away: records blocked by another record's match key, re-read.

A record skipped as `duplicate_email` or `duplicate_match_key` never changes by itself, so no
differential would read it again when the record holding its key lets go of it (changes its
key, is deleted, archived or converted). Finalize keeps such records in
`crm_sync.blocked_records` with the key that blocked them, and after every run of the object
asks the marketing database which of those keys are free now: those records are re-read
from Salesforce by Id and published as a `repair` run, in the same task. A repair that fails
(Salesforce unreachable, the budget spent) leaves them blocked: the next run tries again.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from crm_sync.context import RunContext
from crm_sync.extract import extract_records
from crm_sync.mapping.model import ObjectMapping
from crm_sync.member_links import NO_PERSON_REASONS, person_key_sql
from crm_sync.runs import RunKind, SyncRun
from crm_sync.sqlfiles import ident, template
from crm_sync.transform import match_key_text, stored_key

log = logging.getLogger(__name__)

BLOCKING_REASONS = ("duplicate_email", "duplicate_match_key")
# Records re-read per run at most (a few REST queries); the rest wait for the next run.
MAX_RESYNC = 2000


def remember_blocked(wh: psycopg.Connection, mapping: ObjectMapping, run_id: int) -> None:
    """Forget the blocks this run decided anew, remember the records it found blocked.

    A campaign member is blocked by the person it names (its Contact or Lead) while the
    marketing database has no such person (`member_links.NO_PERSON_REASONS`).
    """
    if not _reevaluated(mapping):
        return
    params = {"run_id": run_id, "object": mapping.object}
    wh.execute(template("finalize/forget_blocked.sql"), params)
    if mapping.is_campaign_member:
        key, reasons = person_key_sql(), list(NO_PERSON_REASONS)
    else:
        key, reasons = match_key_text(mapping), list(BLOCKING_REASONS)
    wh.execute(template("finalize/remember_blocked.sql", key=key), params | {"reasons": reasons})


def _reevaluated(mapping: ObjectMapping) -> bool:
    """True for mappings whose skips can be freed later: match keys other than sf_id, members."""
    return mapping.match_key != "sf_id" or mapping.is_campaign_member


def free_blocked(wh: psycopg.Connection, mk: psycopg.Connection, mapping: ObjectMapping) -> list[str]:
    """The blocked records of the object whose key no other record holds any more, sorted."""
    blocked = wh.execute("SELECT sf_id, match_key FROM crm_sync.blocked_records WHERE object = %s ORDER BY sf_id",
                         (mapping.object,)).fetchall()
    if not blocked:
        return []
    if mapping.is_campaign_member:
        query = template("finalize/free_member_people.sql")
    elif mapping.is_people:
        query = template("finalize/free_emails.sql", idcol=ident(mapping.sf_id_column),
                         stored_key=stored_key(mapping, "p"))
    else:
        query = template("finalize/free_match_keys.sql", target=ident(mapping.target),
                         mk=ident(mapping.match_key), stored_key=stored_key(mapping, "t"))
    free = sorted(row[0] for row in mk.execute(query, {"sf_ids": [b[0] for b in blocked],
                                                        "keys": [b[1] for b in blocked]}))
    mk.commit()
    return free


def resync_freed(ctx: RunContext, run: SyncRun) -> dict[str, Any]:
    """Re-read and publish the object's blocked records whose key is free now; returns what it did.

    Runs after `run` finalized (not for dry runs, nor for the repair runs it starts itself). The records' blocks are forgotten before
    the repair: the repair's own finalize blocks again those still blocked (another record
    took the key first), and a record Salesforce no longer has is not asked for again.
    """
    from crm_sync.publish import publish  # publish → finalize → this module: imported when used

    mapping = ctx.mapping(run.object)
    # A re-evaluation's own repair does not start another: what it left blocked is held.
    if run.dry_run or not _reevaluated(mapping) or "reevaluated_for_run" in run.report:
        return {}
    with ctx.warehouse() as wh, ctx.marketing() as mk:
        free = free_blocked(wh, mk, mapping)[:MAX_RESYNC]
        if not free:
            return {}
        wh.execute("DELETE FROM crm_sync.blocked_records WHERE object = %s AND sf_id = ANY(%s)",
                   (mapping.object, free))
        wh.commit()
    log.info("run %d: the key of %d blocked %s record(s) is free now; re-reading them: %s", run.run_id,
             len(free), mapping.object, ", ".join(free[:20]))
    repair = extract_records(ctx, mapping.object, free, dag_run_id=run.dag_run_id, kind=RunKind.REPAIR,
                             report={"reevaluated_for_run": run.run_id})
    final = publish(ctx, repair)
    return {"resynced": len(free), "repair_run_id": repair, "repair_created": final.created,
            "repair_updated": final.updated, "repair_skipped": final.skipped}

