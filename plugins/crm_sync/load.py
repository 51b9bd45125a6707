"""Step 4, load: publish a validated run into the marketing database.

The transform runs in the warehouse (`transform.publish_query`); its rows are streamed by
COPY into a temporary `incoming` table in the marketing database, where the SQL files of
`include/sql/load/` upsert them in one transaction. Each incoming row ends with exactly one
outcome: created, updated, archived, unchanged or skipped (with a reason).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from crm_sync import runs
from crm_sync.archive import archive_absent, archive_left_filter
from crm_sync.context import RunContext
from crm_sync.db import analyze_after
from crm_sync.mapping.model import Conflict, Direction, FieldMap, ObjectMapping
from crm_sync.member_links import member_statements
from crm_sync.merges import merge_statement
from crm_sync.picklists import publish_picklists
from crm_sync.runs import RunKind, RunStatus
from crm_sync.sqlfiles import person_parts, read_sql, target_parts, template
from crm_sync.targets import version_column
from crm_sync.transform import column_type, publish_columns, publish_query, stored_key, value_hash
from crm_sync.writeback.sticky import queue_statement

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """Outcome counts of one load (its rows' outcomes are in the warehouse's `load_outcomes`)."""

    counts: Counter[str] = field(default_factory=Counter)

    @property
    def loaded(self) -> int:
        """Rows published: created + updated + archived + unchanged."""
        return sum(self.counts[k] for k in ("created", "updated", "archived", "unchanged"))


def _resolved(field_map: FieldMap, row: str, owns: sql.Composable) -> sql.Composable:
    """The value a column takes on update, by the field's owner and conflict rule."""
    col = sql.Identifier(field_map.target)
    current = sql.SQL("{}.{}").format(sql.Identifier(row), col)
    incoming = sql.SQL("EXCLUDED.{}").format(col)
    if field_map.direction is Direction.BOTH and field_map.conflict is Conflict.TRUE_WINS:
        return sql.SQL("(COALESCE({}, false) OR COALESCE({}, false))").format(current, incoming)
    if field_map.direction is Direction.BOTH and field_map.conflict is Conflict.SET_WINS:
        return sql.SQL("COALESCE({}, {})").format(incoming, current)  # Salesforce's value, else the one kept
    if field_map.direction is Direction.BOTH and field_map.conflict is Conflict.MARKETING_WINS:
        return sql.SQL("COALESCE({}, {})").format(current, incoming)
    if field_map.direction is Direction.BOTH:
        return sql.SQL("CASE WHEN {} AND NOT {} THEN {} ELSE {} END").format(
            owns, _marketing_change_stands(field_map, row), incoming, current)
    # from_crm: Salesforce owns the value.
    return sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(owns, incoming, current)


# The Salesforce Id of the incoming record a marketing row is being upserted with.
_INCOMING_ID = {"p": sql.SQL("COALESCE(EXCLUDED.contact_sf_id, EXCLUDED.lead_sf_id)"), "t": sql.SQL("EXCLUDED.sf_id")}


def _marketing_change_stands(field_map: FieldMap, row: str) -> sql.Composable:
    """For `crm_wins` / `latest_wins`: true when the marketing value is kept against Salesforce's.

    Both rules keep a marketing edit still waiting for the write-back (`crm_outbox`) when the
    incoming record still carries the value that edit replaced: Salesforce did not change
    the field, so there is no conflict. `latest_wins` also keeps the marketing value when the
    marketing side changed the field (`crm_field_changes`) after the record's SystemModstamp.
    See docs/writeback.md.
    """
    name = sql.Literal(field_map.target)
    col = sql.Identifier(field_map.target)
    kind = sql.SQL(column_type(field_map))
    table = sql.SQL("(SELECT c.relname::text FROM pg_class c WHERE c.oid = {}.tableoid)").format(sql.Identifier(row))
    row_id = sql.SQL("{}.id").format(sql.Identifier(row))
    untouched = sql.SQL(
        "EXISTS (SELECT 1 FROM crm_outbox o WHERE o.tbl = {table} AND o.row_id = {row_id} AND o.base ? {name}"
        " AND (o.base ->> {name})::{kind} IS NOT DISTINCT FROM EXCLUDED.{col})"
    ).format(table=table, row_id=row_id, name=name, kind=kind, col=col)
    if field_map.conflict is not Conflict.LATEST_WINS:
        return untouched
    newer = sql.SQL(
        "EXISTS (SELECT 1 FROM crm_field_changes f WHERE f.tbl = {table} AND f.row_id = {row_id} AND f.field = {name}"
        " AND f.changed_at > (SELECT max(i.system_modstamp) FROM incoming i WHERE i.sf_id = {incoming_id}))"
    ).format(table=table, row_id=row_id, name=name, incoming_id=_INCOMING_ID.get(row, sql.SQL("EXCLUDED.sf_id")))
    return sql.SQL("({} OR {})").format(untouched, newer)


def _fragments(mapping: ObjectMapping, row: str, owns: sql.Composable,
               shared: frozenset[str] | None = None) -> dict[str, sql.Composable]:
    """The column lists and SET clauses of the load statements.

    `shared`: the person columns the other people object also loads; `owns` decides only
    those. A column only this object loads is always its own (a Lead's company stays the
    Lead's, whichever of Lead and Contact loaded first).
    """
    fields = mapping.loaded_fields
    updatable = [f for f in fields if not (mapping.is_people and f.target == "email")]

    def owner(f: FieldMap) -> sql.Composable:
        return owns if shared is None or f.target in shared else sql.SQL("true")

    cols = [sql.Identifier(f.target) for f in fields]
    lhs = sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(row), sql.Identifier(f.target))
                             for f in updatable)
    rhs = sql.SQL(", ").join(_resolved(f, row, owner(f)) for f in updatable)
    # Whether the upsert changes a value of the row (the version aside).
    changed = sql.SQL("({}, {}.archived_at) IS DISTINCT FROM ({}, NULL)").format(lhs, sql.Identifier(row), rhs)
    if mapping.is_people:
        changed = sql.SQL(
            "(p.{idcol}, p.sf_object, {lhs}, p.archived_at) IS DISTINCT FROM"
            " (EXCLUDED.{idcol}, CASE WHEN {owns} THEN EXCLUDED.sf_object ELSE p.sf_object END, {rhs}, NULL)"
        ).format(idcol=sql.Identifier(mapping.sf_id_column), lhs=lhs, owns=owns, rhs=rhs)
    return {
        "insert_cols": sql.SQL(", ").join(cols),
        "select_cols": sql.SQL(", ").join(sql.SQL("i.{}").format(c) for c in cols),
        "set_list": sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(f.target), _resolved(f, row, owner(f))) for f in updatable),
        "changed": changed,
        "vercol": sql.Identifier(version_column(mapping)),
        "idcol": sql.Identifier(mapping.sf_id_column),
        **target_parts(mapping),
    }


def _stored_keys(mapping: ObjectMapping) -> dict[str, sql.Composable]:
    """`{stored_key}` / `{stored_key_r}`: the normalised form of the stored match key of rows t (p) and r."""
    return {"stored_key": stored_key(mapping, "p" if mapping.is_people else "t"),
            "stored_key_r": stored_key(mapping, "r")}


def outcomes_statement(mapping: ObjectMapping, shared: frozenset[str] | None = None) -> sql.Composed:
    """The statement that collects each incoming row's outcome and value hash (`outcomes`)."""
    return template("load/outcomes.sql", target=sql.Identifier(mapping.target),
                    idcol=sql.Identifier(mapping.sf_id_column),
                    value_hash=value_hash(mapping, shared if mapping.is_people else None))


def load_statements(mapping: ObjectMapping, shared: frozenset[str] | None = None) -> list[sql.Composed]:
    """The ordered statements that load `incoming` into the mapping's target table.

    Args:
        mapping: the object's mapping.
        shared: for people, the columns the other people object (Lead or Contact) also
            loads; None treats every column as shared.
    """
    if mapping.is_people:
        # A Lead owns its person's Salesforce-owned values only while no live Contact does.
        owns = sql.SQL("(p.contact_sf_id IS NULL OR p.archived_at IS NOT NULL)") if mapping.is_lead \
            else sql.SQL("true")
        parts = _fragments(mapping, "p", owns, shared) | person_parts(mapping) | {"owns": owns} \
            | _stored_keys(mapping)
        files = ["older_versions.sql"] + (["people_convert.sql"] if mapping.is_lead else []) \
            + ["people_keys.sql", "people_duplicates.sql"]
        if mapping.mode == "update_only":
            files.append("update_only_people.sql")
        files += ["people_email_change.sql", "people_upsert.sql", "people_delete.sql"]
    else:
        parts = _fragments(mapping, "t", sql.SQL("true"))
        files = ["older_versions.sql"]
        if mapping.match_key != "sf_id":
            parts |= {"mk": sql.Identifier(mapping.match_key)} | _stored_keys(mapping)
            files.append("records_match_key.sql")
        if mapping.mode == "update_only":
            files.append("update_only_records.sql")
        files += ["records_upsert.sql", "records_delete.sql"]
    statements = [template(f"load/{name}", **parts) for name in files]
    before, after = member_statements(mapping)
    if before or after:  # campaign members: linked to their person around the upsert
        at = files.index("records_upsert.sql")
        statements[at:at + 1] = [*before, statements[at], *after]
    sticky = queue_statement(mapping)
    if sticky is not None:  # before the upsert: it compares with the person's values before this batch
        statements.insert(files.index("people_upsert.sql"), sticky)
    merge = merge_statement(mapping)
    if merge is not None:  # merged losers, before the plain deletes
        statements.insert(len(statements) - 1, merge)
    return statements


# Local buffers of the load's session: `incoming` and its indexes stay in memory instead of
# going through the default 8 MB (at 1M rows the duplicate and upsert statements otherwise
# re-read and write back most of the table). PostgreSQL allocates them only as used.
TEMP_BUFFERS = "512MB"


def _room_for_temp_tables(conn: psycopg.Connection) -> None:
    """Raise `temp_buffers` for this transaction, if the session has not used temp tables yet."""
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL temp_buffers = {}").format(sql.Literal(TEMP_BUFFERS)))
    except psycopg.Error as exc:  # the session already has local buffers: keep their size
        log.debug("temp_buffers stays: %s", str(exc).splitlines()[0])


def _copy_outcomes(marketing: psycopg.Connection, warehouse: psycopg.Connection) -> None:
    """Bring every row's outcome to the warehouse (`load_outcomes`): the skip log and the event log.

    A skipped row comes with its Id and reason; the rows never pass through Python (at 5M
    records a load skips about 100,000).
    """
    warehouse.execute("CREATE TEMP TABLE IF NOT EXISTS load_outcomes"
                      " (row_id bigint, outcome text, value_hash text, sf_id text, skip_reason text)")
    warehouse.execute("TRUNCATE load_outcomes")
    with marketing.cursor() as src, warehouse.cursor() as dst:
        with src.copy("COPY (SELECT row_id, outcome, value_hash,"
                      " CASE WHEN outcome = 'skipped' THEN sf_id END, CASE WHEN outcome = 'skipped' THEN skip_reason END"
                      " FROM outcomes) TO STDOUT (FORMAT binary)") as reader, \
                dst.copy("COPY load_outcomes (row_id, outcome, value_hash, sf_id, skip_reason)"
                         " FROM STDIN (FORMAT binary)") as writer:
            for block in reader:
                writer.write(block)
    warehouse.execute("ANALYZE load_outcomes")


def load_run(warehouse: psycopg.Connection, marketing: psycopg.Connection, mapping: ObjectMapping,
             run_id: int, *, dry_run: bool = False, shared: frozenset[str] | None = None) -> LoadResult:
    """Stream the run's transformed rows into the marketing database and upsert them.

    The marketing transaction commits before this returns (a dry run rolls it back after
    counting); the caller records the counts and only then advances the watermark. `shared`:
    see `load_statements`.
    """
    columns = publish_columns(mapping)
    with marketing.transaction():
        # Marks the changes of this transaction as coming from Salesforce, so marketing-side
        # change tracking does not send them back (no echo).
        marketing.execute("SET LOCAL crm_sync.origin = 'crm'")
        _room_for_temp_tables(marketing)
        marketing.execute(sql.SQL(
            "CREATE TEMP TABLE incoming ({cols}, skip_reason text, outcome text) ON COMMIT DROP"
        ).format(cols=sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns)))
        # The upsert's outcome of each row, kept apart: writing it into `incoming` would
        # rewrite every (wide) row of the batch. It overrides an earlier outcome of the row.
        marketing.execute("CREATE TEMP TABLE upserted (sf_id text, outcome text) ON COMMIT DROP")
        # Binary: both ends are PostgreSQL and `incoming` has the publish query's column
        # types, so no value is printed as text and parsed back (timestamps, numbers).
        copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(publish_query(mapping))
        copy_in = sql.SQL("COPY incoming ({}) FROM STDIN (FORMAT binary)").format(
            sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns))
        with warehouse.cursor() as src, marketing.cursor() as dst:
            with src.copy(copy_out, {"run_id": run_id}) as reader, dst.copy(copy_in) as writer:
                for block in reader:
                    writer.write(block)
        marketing.execute("CREATE INDEX ON incoming (sf_id)")
        if mapping.match_key != "sf_id":
            # The duplicate and email-change checks look rows up by match key.
            marketing.execute(sql.SQL("CREATE INDEX ON incoming ({})").format(sql.Identifier(mapping.match_key)))
        marketing.execute("ANALYZE incoming")
        # Loads of one marketing table run one at a time (Leads and Contacts share people):
        # a later load never interleaves with an earlier one's statements.
        marketing.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"crm_sync.load.{mapping.target}",))
        statements = load_statements(mapping, shared)
        for number, statement in enumerate(statements, start=1):
            started = time.monotonic()
            marketing.execute(statement)
            seconds = time.monotonic() - started
            # Progress of long loads in the task log; short statements only at DEBUG.
            log.log(logging.INFO if seconds >= 1 else logging.DEBUG, "load of %s: statement %d of %d done in %.2f s",
                    mapping.object, number, len(statements), seconds)
        # Counted in the database: only the skipped rows come back, never the whole batch.
        marketing.execute(outcomes_statement(mapping, shared))
        result = LoadResult()
        for outcome, count in marketing.execute("SELECT outcome, count(*) FROM outcomes GROUP BY 1"):
            result.counts[outcome] += count
        _copy_outcomes(marketing, warehouse)
        if dry_run:
            raise psycopg.Rollback()
    warehouse.commit()  # end the read transaction of the COPY
    return result


def shared_person_columns(ctx: RunContext, mapping: ObjectMapping) -> frozenset[str] | None:
    """The person columns the other people object loads too (None for non-people targets)."""
    if not mapping.is_people:
        return None
    other = next((m for m in ctx.mappings.objects if m.is_people and m.object == mapping.person_link.other_object),
                 None)
    return frozenset(f.target for f in other.loaded_fields) if other else frozenset()


def load(ctx: RunContext, run_id: int) -> dict[str, int]:
    """Publish the run's valid rows into the marketing database; returns the outcome counts.

    A dry run computes the same counts and rolls the marketing transaction back. A full
    sync in mirror mode also archives marketing rows whose record Salesforce no longer has.
    """
    with ctx.warehouse() as wh:
        run = runs.get_run(wh, run_id)
        mapping = ctx.mapping(run.object)
        # A filtered mirror asks Salesforce which absent records are live outside the filter.
        sf = ctx.salesforce() if mapping.filter and run.report.get("mode") == "mirror" else None
        with runs.step(wh, run_id, "load", gateway=sf), ctx.marketing() as mk:
            result = load_run(wh, mk, mapping, run_id, dry_run=run.dry_run, shared=shared_person_columns(ctx, mapping))
            wh.execute(read_sql("load/record_skipped.sql"), {"run_id": run_id})
            if not run.dry_run:
                wh.execute("DELETE FROM crm_sync.record_events WHERE run_id = %s", (run_id,))
                wh.execute(read_sql("load/record_events.sql"), {"run_id": run_id, "object": mapping.object})
            # Finalize joins the run's skipped rows and events (remember_records.sql).
            analyze_after(wh, run.staged, ("crm_sync.skipped", "crm_sync.record_events"))
            reasons: dict[str, int] = dict(wh.execute(
                "SELECT reason, count(*) FROM crm_sync.skipped WHERE run_id = %s GROUP BY reason ORDER BY reason",
                (run_id,)).fetchall())
            left = archive_left_filter(wh, mk, mapping, run_id, run.report.get("left_filter", []), dry_run=run.dry_run)
            report: dict[str, int] = {"left_filter_archived": left} if left else {}
            if not run.dry_run and publish_picklists(wh, mk, mapping.object):
                mk.commit()
            if run.kind is RunKind.FULL and not run.dry_run:
                # A full sync can change most of the table at once; the differentials that
                # follow must not be planned on statistics of the table as it was before.
                mk.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(mapping.target)))
                mk.commit()
            if run.kind is RunKind.FULL and run.report.get("mode") == "mirror":
                report["mirror_archived"] = archive_absent(wh, mk, mapping, run_id, dry_run=run.dry_run, gateway=sf)
                log.info("run %d: mirror archived %d marketing row(s) whose %s is gone from Salesforce",
                         run_id, report["mirror_archived"], mapping.object)
            runs.update_run(wh, run_id, created=result.counts["created"], updated=result.counts["updated"],
                            archived=result.counts["archived"] + left, unchanged=result.counts["unchanged"],
                            extracted=run.staged + left,
                            skipped=sum(reasons.values()), skipped_reasons=reasons, status=RunStatus.LOADED,
                            report=report)
        return dict(result.counts)
