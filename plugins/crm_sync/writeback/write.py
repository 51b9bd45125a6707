"""The write step: pending marketing changes → Salesforce, chunk by chunk.

For each marketing table a mapping targets, the pending changes (`crm_outbox`) are read in
chunks of `CRM_WRITEBACK_BATCH_SIZE`, oldest first. Per chunk:

1. new people (no Lead, no Contact) are looked up in Salesforce by email: a record found is
   linked instead of creating a duplicate (this also makes a retried create harmless);
2. records with `crm_wins` / `latest_wins` fields in the change are read from Salesforce;
3. every linked record gets a record task (rules.py decides each field), every row the
   mapping may create gets a create task;
4. one Bulk API 2.0 job per object and operation writes them (ingest.py);
5. created records are linked back, per-record results and refresh requests are saved in
   the warehouse, and the settled changes leave the queue (deferred ones stay).

Chunks overlap: while one chunk's jobs run (a background thread, waiting on Salesforce), the
next chunk is read and planned and the one before is saved. Salesforce calls never overlap
(one lock), so each object's call count stays exact; the databases are used by the calling
thread only.

The run stops early, with the rest queued, when the next call would pass the API budget.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import psycopg

from crm_sync import missing_fields, runs
from crm_sync.context import RunContext
from crm_sync.mapping.loader import MappingSet
from crm_sync.mapping.model import ObjectMapping
from crm_sync.runs import RunKind
from crm_sync.salesforce import (
    ApiBudget,
    ApiLimitReached,
    BudgetExhausted,
    SalesforceGateway,
    SalesforceSchemaError,
    TransientFailure,
)
from crm_sync.salesforce.ids import is_salesforce_id
from crm_sync.salesforce.soql import assignment_rules_query, by_ids_queries, emails_queries
from crm_sync.writeback import members, scope, tracking
from crm_sync.writeback.create_contacts import assign_accounts
from crm_sync.writeback.ingest import BulkIngest, RowResult
from crm_sync.writeback.owners import CreateOwner, resolve_owner
from crm_sync.writeback.plan import (
    PEOPLE_LINKS,
    Change,
    RecordTask,
    needs_read,
    plan_create,
    plan_update,
    record_links,
    skipped,
)
from crm_sync.writeback.results import Tally, record_results, request_refresh

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class Chunk:
    """One chunk of a table's changes, planned: its record tasks and refresh requests."""

    table: str
    mappings: list[ObjectMapping]
    tasks: list[RecordTask]
    refresh: list[tuple[str, str, str]]
    send: bool = True  # False: the plan stopped early and decided every task without a job


class Writer:
    """Writes the pending changes of one write-back run."""

    def __init__(self, ctx: RunContext, warehouse: psycopg.Connection, marketing: psycopg.Connection,
                 run_ids: dict[str, int], *, gateway: SalesforceGateway | None = None) -> None:
        self.ctx = ctx
        self.mapping_set = ctx.mappings
        self.wh = warehouse
        self.mk = marketing
        self.run_ids = run_ids
        self.connection = gateway or ctx.salesforce(budget=ApiBudget(ctx.writeback.api_budget_share))
        self.budget = self.connection.budget or ApiBudget(ctx.writeback.api_budget_share)
        self.ingest = BulkIngest(self.connection, self.budget)
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self._described: dict[str, tuple[set[str], set[str]]] = {}
        self._present: dict[str, set[str]] = {}  # every field the org has, lower case, per object
        self._scope = scope.Scope()
        self._owner: CreateOwner | None = None
        self._salesforce = threading.RLock()  # one Salesforce call at a time (exact per-object counts)

    # -- Salesforce calls, counted per object --------------------------------------------------

    def _spend(self, object_name: str, fn: Callable[[], T]) -> T:
        with self._salesforce:
            before = self.connection.api_calls
            try:
                return fn()
            finally:
                self.tallies[object_name].api_calls += self.connection.api_calls - before

    def _check_budget(self, cost: int, what: str) -> None:
        spent = self.connection.api_calls
        if not self.budget.allows(spent, cost):
            self.budget.stop(spent, cost, what)
            raise BudgetExhausted(self.budget.stopped)

    def describe(self, mapping: ObjectMapping) -> tuple[set[str], set[str]]:
        """(updateable, createable) field names of the object, lower case; checks the mapping.

        `to_crm` fields the org lacks are left out (reported in the run's sync log with the
        set-up command that creates them, see `missing_fields`); the others are written.

        Raises:
            SalesforceSchemaError: any other field the write-back writes is missing or not updateable.
        """
        if mapping.object not in self._described:
            description = self._spend(mapping.object, lambda: self.connection.describe(mapping.object))
            fields = {f["name"].lower(): f for f in description["fields"]}
            absent = [fm.source for fm in mapping.written_fields if fm.source.lower() not in fields]
            if missing_fields.to_crm_only(mapping, absent):
                missing_fields.report_missing(self.wh, self.run_ids[mapping.object], mapping, absent)
                absent = []
            problems = [f"{fm.source} (not in Salesforce)" if fm.source in absent
                        else f"{fm.source} (not updateable)" for fm in mapping.written_fields
                        if fm.source.lower() in fields and not fields[fm.source.lower()].get("updateable")
                        or fm.source in absent]
            if problems:
                raise SalesforceSchemaError(
                    f"{mapping.object.lower()}.yaml: the write-back cannot write {', '.join(problems)} of "
                    f"{mapping.object}; fix the mapping's direction or the org")
            self._present[mapping.object] = set(fields)
            self._described[mapping.object] = (
                {name for name, f in fields.items() if f.get("updateable")},
                {name for name, f in fields.items() if f.get("createable")})
        return self._described[mapping.object]

    def _query(self, object_name: str, soql: str) -> list[dict[str, Any]]:
        with self._salesforce:
            self._check_budget(1, f"a query of {object_name}")
            result = self._spend(object_name, lambda: self.connection.call(
                f"query {object_name}", lambda sf: sf.query_all(soql)))
        return list(result["records"])

    # -- one chunk --------------------------------------------------------------------------------

    def plan(self, table: str, mappings: list[ObjectMapping], changes: list[Change]) -> Chunk:
        """Decide one chunk of a table's changes: link, read conflicts, plan every record task.

        The changes' row values are dropped afterwards: only the chunk being planned holds rows.
        """
        chunk = self._decide(table, mappings, changes)
        for change in changes:
            change.forget_values()
        return chunk

    def _decide(self, table: str, mappings: list[ObjectMapping], changes: list[Change]) -> Chunk:
        tasks: list[RecordTask] = []
        people = mappings[0].is_people
        create = next((m for m in mappings if m.writeback.create), None)
        self._scope = outside = scope.read_scope(self.mk, mappings, changes)
        ready: list[Change] = []
        unlinked: list[Change] = []
        for change in changes:
            links = {m.object: record_links(change, m) for m in mappings}
            if change.row.get("archived_at") is not None:
                linked: list[tuple[str, str | None]] = [(o, i) for o, i in links.items() if i]
                linked = linked or [((create or mappings[0]).object, None)]
                tasks += [skipped(change, obj, "archived", sf_id) for obj, sf_id in linked]
            elif any(links.values()):
                ready.append(change)
            elif create is None:
                tasks.append(skipped(change, mappings[0].object, "no_salesforce_record"))
            elif outside.blocks(change, create):
                tasks.append(skipped(change, create.object, scope.OUT_OF_SCOPE))
            else:
                unlinked.append(change)
        refresh: list[tuple[str, str, str]] = []
        creates: list[Change] = []
        try:
            for mapping in mappings:
                self.describe(mapping)
            if unlinked and people and create is not None and not create.writeback.external_id:
                creates = self._link_existing_people(unlinked, mappings, ready, refresh)
            elif unlinked and create is not None and create.is_campaign_member:
                member_object = create.object
                creates, decided = members.link_existing(
                    self.mk, lambda soql: self._query(member_object, soql), unlinked, ready, refresh)
                tasks += decided
            else:
                creates = unlinked
            records = self._read_for_conflicts(ready, mappings)
            plan = members.plan_create if create is not None and create.is_campaign_member else plan_create
            new_tasks = [plan(change, create, self.mapping_set.value_maps,
                              createable=self._described[create.object][1])
                         for change in creates if create is not None]
            if new_tasks and create is not None:
                self._prepare_creates(create, new_tasks)
        except (BudgetExhausted, TransientFailure, ApiLimitReached) as exc:
            if isinstance(exc, ApiLimitReached):
                self.budget.stop(self.connection.api_calls, 1, "Salesforce's daily limit")
            reason = "api_budget" if self.budget.stopped else "transient"
            done = {t.change.row_id for t in tasks}
            for change in changes:
                if change.row_id not in done:
                    task = skipped(change, (create or mappings[0]).object, reason)
                    task.outcome, task.error = "deferred", self.budget.stopped or str(exc)
                    tasks.append(task)
            return Chunk(table, mappings, tasks, refresh, send=False)
        for change in ready:
            for mapping in mappings:
                sf_id = record_links(change, mapping)
                if sf_id and outside.blocks(change, mapping):
                    tasks.append(skipped(change, mapping.object, scope.OUT_OF_SCOPE, sf_id))
                elif sf_id:
                    updateable, _ = self._described[mapping.object]
                    tasks.append(plan_update(change, mapping, sf_id, self.mapping_set.value_maps,
                                             salesforce=records.get(mapping.object, {}).get(sf_id),
                                             updateable=updateable))
        tasks += new_tasks
        return Chunk(table, mappings, tasks, refresh)

    def send(self, chunk: Chunk) -> Chunk:
        """Run a planned chunk's Bulk jobs (Salesforce only: safe in a background thread)."""
        if chunk.send:
            self._run_jobs(chunk.tasks, chunk.mappings)
            chunk.refresh += members.read_back_updates(chunk.tasks)
        return chunk

    def save(self, chunk: Chunk) -> None:
        """Save a sent chunk's results and settle its changes."""
        self._save(chunk.table, chunk.mappings, chunk.tasks, chunk.refresh)

    def abandon(self, chunk: Chunk) -> None:
        """A planned chunk that is not sent: its changes stay queued, its refresh requests are kept.

        People linked by email while planning are linked for good; the refresh brings their record.
        """
        self._request_refresh(chunk.refresh)
        self.wh.commit()

    def _request_refresh(self, refresh: list[tuple[str, str, str]]) -> None:
        """Queue records to be read back, under the run of their object."""
        if refresh:
            request_refresh(self.wh, self.run_ids[refresh[0][0]], refresh)

    def _prepare_creates(self, mapping: ObjectMapping, tasks: list[RecordTask]) -> None:
        """Owners of new Leads (`writeback.owner`), Accounts of new Contacts (`writeback.account`)."""
        if mapping.writeback.owner is not None:
            owner = self._create_owner(mapping)
            for task in tasks:
                if task.outcome is None and owner.owner_id:
                    task.values["OwnerId"] = owner.owner_id
        if mapping.is_people and mapping.writeback.account is not None:
            assign_accounts(tasks, mapping, query=lambda soql: self._query("Account", soql),
                            insert_accounts=lambda rows: self._spend(mapping.object, lambda: self.ingest.write(
                                "Account", "insert", rows, key_column="Name")))

    def _create_owner(self, mapping: ObjectMapping) -> CreateOwner:
        """The mapping's owner option resolved once per run (raises UnknownOwner)."""
        if self._owner is None:
            with self.mk.transaction():
                self._owner = resolve_owner(self.mk, mapping.writeback.owner,
                                            rules=lambda: self._query(mapping.object, assignment_rules_query()))
        return self._owner

    def _link_existing_people(self, unlinked: list[Change], mappings: list[ObjectMapping], ready: list[Change],
                              refresh: list[tuple[str, str, str]]) -> list[Change]:
        """Link new people whose email Salesforce already has (a Contact or a Lead); return the rest.

        This is what makes creating Leads idempotent: a Lead created by an earlier, interrupted
        attempt is found here and linked instead of created again.
        """
        found: dict[str, dict[str, str]] = defaultdict(dict)
        emails = sorted({str(c.row["email"]).lower() for c in unlinked})
        for mapping in mappings:
            for soql in emails_queries(mapping, emails):
                for record in self._query(mapping.object, soql):
                    found[str(record["Email"]).strip().lower()].setdefault(mapping.object, record["Id"])
        creates = []
        with self.mk.transaction():
            tracking.mark_writeback(self.mk)
            for change in unlinked:
                matches = found.get(str(change.row["email"]).lower(), {})
                linked = [(obj, sf_id) for obj, sf_id in sorted(matches.items())
                          if tracking.link(self.mk, change, obj, sf_id, people=True)]
                if linked:
                    ready.append(change)
                    refresh += [(obj, sf_id, "linked_by_email") for obj, sf_id in linked]
                    log.info("marketing person %d linked to existing %s by email", change.row_id,
                             ", ".join(f"{o} {i}" for o, i in linked))
                else:
                    creates.append(change)
        return creates

    def _read_for_conflicts(self, ready: list[Change], mappings: list[ObjectMapping]
                            ) -> dict[str, dict[str, dict[str, Any]]]:
        """Salesforce's current values of records whose change has crm_wins / latest_wins fields.

        Only the mapped fields the org has are read: a `to_crm` field not created yet (see
        `describe`) would fail the query.
        """
        records: dict[str, dict[str, dict[str, Any]]] = {}
        for mapping in mappings:
            ids = sorted({sf_id for c in ready if (sf_id := record_links(c, mapping)) and needs_read(c, mapping)
                          and is_salesforce_id(sf_id) and not self._scope.blocks(c, mapping)})
            present = self._present.get(mapping.object)
            fields = ["Id", "SystemModstamp", *sorted({f.source for f in mapping.fields
                                                      if f.source not in ("Id", "SystemModstamp")
                                                      and (present is None or f.source.lower() in present)})]
            for soql in by_ids_queries(mapping, fields, ids):
                for record in self._query(mapping.object, soql):
                    records.setdefault(mapping.object, {})[record["Id"]] = record
        return records

    # -- jobs -------------------------------------------------------------------------------------

    def _run_jobs(self, tasks: list[RecordTask], mappings: list[ObjectMapping]) -> None:
        groups: dict[tuple[str, str], list[RecordTask]] = defaultdict(list)
        for task in tasks:
            if task.outcome is None and task.operation in ("update", "insert", "upsert"):
                groups[(task.object, task.operation)].append(task)
        by_object = {m.object: m for m in mappings}
        for (object_name, operation), group in sorted(groups.items()):
            mapping = by_object[object_name]
            insert_key: str | tuple[str, ...] = members.MEMBER_KEY if mapping.is_campaign_member else (
                mapping.match_field.source if mapping.is_people else "Id")
            key_column = {"update": "Id", "insert": insert_key,
                          "upsert": mapping.writeback.external_id or "Id"}[operation]
            rows: dict[str, dict[str, str]] = {}
            for task in group:
                if task.key in rows:
                    task.outcome, task.reason = "skipped", "duplicate_key"
                    continue
                rows[task.key] = ({"Id": task.sf_id or ""} if operation == "update" else {}) | task.values
            external_id = mapping.writeback.external_id if operation == "upsert" else None
            # The plan resolved the owner (`_prepare_creates`): no database use in this thread.
            rule = self._owner.assignment_rule_id if (
                operation == "insert" and mapping.writeback.owner is not None and self._owner) else None
            if self.budget.stopped:
                results = {key: RowResult("deferred", code="api_budget", message=self.budget.stopped) for key in rows}
            else:
                results = self._spend(object_name, partial(
                    self.ingest.write, object_name, operation, rows, key_column=key_column, external_id=external_id,
                    assignment_rule_id=rule))
            for task in group:
                if task.outcome is None:
                    _apply(task, results[task.key])
            counts: Counter[str | None] = Counter()
            for task in group:
                counts[task.outcome] += 1
            log.info("%s %s: %s", object_name, operation,
                     ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: str(kv[0]))))

    # -- saving -----------------------------------------------------------------------------------

    def _save(self, table: str, mappings: list[ObjectMapping], tasks: list[RecordTask],
              refresh: list[tuple[str, str, str]]) -> None:
        """Link created records, save results and refresh requests, settle finished changes."""
        people = mappings[0].is_people
        created = [t for t in tasks if t.outcome == "created" and t.sf_id]
        if created:
            with self.mk.transaction():
                tracking.mark_writeback(self.mk)
                for task in created:
                    if not tracking.link(self.mk, task.change, task.object, task.sf_id or "", people=people):
                        task.notes.append("created, but another marketing row already links this record")
        refresh = list(refresh)
        refresh += [(t.object, t.sf_id or "", "created") for t in created]
        refresh += [(t.object, t.sf_id or "", "restore " + ",".join(t.restored)) for t in tasks
                    if t.restored and t.sf_id and t.outcome != "deferred"]
        restored = Counter(f"{t.object}.{name}" for t in tasks if t.outcome != "deferred" for name in t.restored)
        if restored:
            log.info("marketing edits overwritten from Salesforce (Salesforce owns them, or won the conflict): %s",
                     ", ".join(f"{name} ({n})" for name, n in sorted(restored.items())))
        by_run: dict[int, list[RecordTask]] = defaultdict(list)
        for task in tasks:
            by_run[self.run_ids[task.object]].append(task)
            self.tallies[task.object].add(task)
        for run_id, run_tasks in by_run.items():
            record_results(self.wh, run_id, run_tasks)
        self._request_refresh(refresh)
        self.wh.commit()  # results first: a crash before settling only re-sends, never loses
        unsettled = {t.change.row_id for t in tasks if not t.settled}
        finished = {t.change.row_id: t.change for t in tasks if t.change.row_id not in unsettled}
        with self.mk.transaction():
            tracking.settle(self.mk, table, list(finished.values()))


def _apply(task: RecordTask, result: RowResult) -> None:
    """Copy a row's job result onto its record task."""
    task.attempts, task.job_ids = result.attempts, result.job_ids
    if result.status == "succeeded":
        task.sf_id = task.sf_id or result.sf_id
        task.outcome = "created" if (task.operation == "insert" or result.created) else "updated"
    elif result.status == "failed":
        task.outcome, task.reason, task.error = "failed", result.code, result.message
        task.sf_id = task.sf_id or result.sf_id
    else:
        task.outcome, task.reason, task.error = "deferred", result.code, result.message


def writeback_targets(mapping_set: MappingSet) -> dict[str, list[ObjectMapping]]:
    """Mappings by marketing table, tables sorted (people: Contact before Lead)."""
    tables: dict[str, list[ObjectMapping]] = defaultdict(list)
    for mapping in mapping_set.objects:
        tables[mapping.target].append(mapping)
    return dict(sorted(tables.items()))


def table_columns_for(mappings: list[ObjectMapping], existing: list[str]) -> list[str]:
    """The columns a chunk reads: the mapped ones, links and bookkeeping that exist."""
    wanted = ["id", "archived_at", "sf_id", *PEOPLE_LINKS.values(), "sf_object", "person_id",
              *(f.target for m in mappings for f in m.fields)]
    return [c for c in dict.fromkeys(wanted) if c in existing]


def write_changes(ctx: RunContext, warehouse: psycopg.Connection, marketing: psycopg.Connection,
                  run_ids: dict[str, int], *, gateway: SalesforceGateway | None = None) -> Writer:
    """Write every pending change up to now; returns the writer (tallies, budget)."""
    with marketing.transaction():
        scope.queue_entered(marketing, ctx.mappings.objects)
    upto = tracking.latest_seq(marketing)
    marketing.commit()
    writer = Writer(ctx, warehouse, marketing, run_ids, gateway=gateway)
    started = datetime.now(UTC)
    # What was alive before the run (Airflow, imports, mappings) is left out of every garbage
    # collection: a chunk makes some 100,000 objects, and each full collection would walk them all.
    gc.freeze()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm-writeback-jobs") as jobs:
            for table, mappings in writeback_targets(ctx.mappings).items():
                _write_table(writer, jobs, table, mappings, upto=upto)
                if writer.budget.stopped:
                    break
    finally:
        gc.unfreeze()
    log.info("write-back: %d API call(s) in %.1f s", writer.connection.api_calls,
             (datetime.now(UTC) - started).total_seconds())
    return writer


def _write_table(writer: Writer, jobs: ThreadPoolExecutor, table: str, mappings: list[ObjectMapping], *,
                 upto: int) -> None:
    """Write one table's pending changes, chunk by chunk; a chunk's jobs run while the next is planned.

    The table's last chunk is saved before the next table starts: a table's creates (people)
    are linked before the tables that refer to them (campaign members) are planned.
    """
    mk, wh = writer.mk, writer.wh
    with mk.transaction():
        tracking.drop_orphans(mk, table)
        ignored = tracking.drop_unmapped(mk, table, sorted({f.target for m in mappings for f in m.fields}))
        if ignored:
            log.info("%s: %d change(s) of marketing-only columns: nothing for Salesforce", table, ignored)
    columns = table_columns_for(mappings, tracking.table_columns(mk, table))
    mk.commit()
    sending: Future[Chunk] | None = None
    size = writer.ctx.writeback.batch_size
    for changes in _ramp_up(tracking.pending_changes(mk, table, columns, upto=upto, size=size), size):
        for mapping in mappings:
            _ensure_run(writer, wh, mapping, writer.run_ids)
        planned = writer.plan(table, mappings, changes)
        sent = sending.result() if sending is not None else None
        if sent is not None and writer.budget.stopped:
            writer.save(sent)
            writer.abandon(planned)  # planned after the budget ran out: it stays queued
            return
        sending = jobs.submit(writer.send, planned)
        if sent is not None:
            writer.save(sent)  # while the jobs of the next chunk run
        if writer.budget.stopped:
            break
    if sending is not None:
        writer.save(sending.result())


def _ramp_up(chunks: Iterator[list[Change]], size: int) -> Iterator[list[Change]]:
    """The chunks, with a full first chunk sent as a fifth and the rest.

    Nothing overlaps the first chunk's planning; a small first part gets the jobs going
    sooner. A table with less than one chunk pending keeps its single job.
    """
    for number, changes in enumerate(chunks):
        if number == 0 and len(changes) == size >= 5:
            yield changes[:size // 5]
            yield changes[size // 5:]
        else:
            yield changes


def _ensure_run(writer: Writer, warehouse: psycopg.Connection, mapping: ObjectMapping,
                run_ids: dict[str, int]) -> None:
    """Objects without written fields get a sync log row only when they have changes."""
    if mapping.object not in run_ids:
        first = next(iter(run_ids.values()), None)
        sibling = runs.get_run(warehouse, first) if first else None
        run_ids[mapping.object] = runs.start_run(
            warehouse, object_name=mapping.object, kind=RunKind.WRITEBACK,
            dag_run_id=sibling.dag_run_id if sibling else None,
            window_start=sibling.window_start if sibling else None,
            window_end=sibling.window_end if sibling else None,
            watermark_before=runs.get_watermark(warehouse, mapping.object, runs.TO_CRM))
        warehouse.commit()
