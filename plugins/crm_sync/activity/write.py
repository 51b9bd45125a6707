"""The activity step of a write-back run: pending marketing activity → Salesforce Tasks.

Reads `marketing_activities` rows not written yet in chunks of `CRM_ACTIVITY_BATCH_SIZE`
(per event, or per person and day), upserts one record each through Bulk API 2.0 by the
external id activity.yaml names (so a retried or re-run write updates the same Task, never
a second one), saves every record's result in `crm_sync.writeback_results`, and only then
marks the activity rows done. A person with neither Contact nor Lead yet keeps its activity
pending (counted as skipped `waiting_for_salesforce_record`, logged) until it is linked. A
record Salesforce rejects is `failed` with its reason and not retried; a transient failure or
the API budget leaves the rows pending for the next run. The calls count in the sync log row
of the target object (kind `writeback`) and share the run's API budget with the write step.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
from psycopg.rows import dict_row

from crm_sync import runs
from crm_sync.activity.config import ActivityConfig, config_path, load_activity_config
from crm_sync.activity.content import Unit, day_unit, event_unit
from crm_sync.context import RunContext
from crm_sync.runs import RunKind, RunStatus
from crm_sync.salesforce import ApiBudget, BudgetExhausted, SalesforceGateway
from crm_sync.settings import load_activity_settings
from crm_sync.sqlfiles import read_sql
from crm_sync.writeback.ingest import BulkIngest, RowResult
from crm_sync.writeback.results import Tally, save_tally

log = logging.getLogger(__name__)

TABLE = "marketing_activities"
_COPY_RESULTS = (
    "COPY crm_sync.writeback_results (run_id, object, sf_id, marketing_table, marketing_id, operation, outcome,"
    " reason, error, written, external_id, attempts, job_ids) FROM STDIN"
)
_MARK_OUTCOME = {"created": "written", "updated": "written", "failed": "failed", "skipped": "skipped"}


class SharedBudget(ApiBudget):
    """The write-back run's API budget less what its earlier steps already spent."""

    def __init__(self, share: float, spent_before: int) -> None:
        super().__init__(share)
        self.spent_before = spent_before

    def start(self, used: int | None, maximum: int | None, calls_so_far: int) -> None:
        """Fix the allowance as of the run's start (the earlier steps' calls count as this run's)."""
        super().start(used, maximum, calls_so_far + self.spent_before)

    def allows(self, spent: int, cost: int) -> bool:
        """True when `cost` more calls keep the whole write-back run within its allowance."""
        return super().allows(spent + self.spent_before, cost)


def write_activity(ctx: RunContext, run_ids: dict[str, int], *, dag_run_id: str | None = None) -> dict[str, int]:
    """Write the pending marketing activity; returns `run_ids` plus the target object's run id.

    Raises:
        ActivityConfigError: activity.yaml is broken (the sync log row is marked failed).
    """
    settings = load_activity_settings()
    if not settings.enabled:
        return run_ids
    config = load_activity_config(config_path(settings))
    if config.object in run_ids:
        raise ValueError(f"activity.yaml: {config.object} is also a mapped object; choose another target")
    started = time.monotonic()
    with ctx.warehouse() as wh, ctx.marketing() as mk:
        siblings = [runs.get_run(wh, run_id) for run_id in run_ids.values()]
        watermark = runs.get_watermark(wh, config.object, runs.TO_CRM)
        run_id = runs.start_run(wh, object_name=config.object, kind=RunKind.WRITEBACK, dag_run_id=dag_run_id,
                                window_start=watermark, watermark_before=watermark,
                                window_end=siblings[0].window_end if siblings else datetime.now(UTC))
        wh.commit()
        budget = SharedBudget(ctx.writeback.api_budget_share, sum(run.api_calls for run in siblings))
        writer = ActivityWriter(ctx, config, wh, mk, run_id, ctx.salesforce(budget=budget), settings.batch_size)
        try:
            writer.write_all()
        except Exception as exc:
            wh.rollback()
            runs.update_run(wh, run_id, status=RunStatus.FAILED, error=f"activity: {exc}"[:4000],
                            finished_at=datetime.now(UTC), duration=("activity", time.monotonic() - started))
            wh.commit()
            raise
        writer.tally.api_calls = writer.gateway.api_calls
        save_tally(wh, run_id, writer.tally, status=RunStatus.WRITTEN, error=budget.stopped,
                   duration=("activity", time.monotonic() - started))
        wh.commit()
    return {**run_ids, config.object: run_id}


class ActivityWriter:
    """Writes the pending activity of one write-back run, chunk by chunk."""

    def __init__(self, ctx: RunContext, config: ActivityConfig, warehouse: psycopg.Connection,
                 marketing: psycopg.Connection, run_id: int, gateway: SalesforceGateway, batch_size: int) -> None:
        self.ctx = ctx
        self.config = config
        self.wh = warehouse
        self.mk = marketing
        self.run_id = run_id
        self.gateway = gateway
        self.budget = gateway.budget or ApiBudget(ctx.writeback.api_budget_share)
        self.ingest = BulkIngest(gateway, self.budget)
        self.batch_size = batch_size
        self.tally = Tally()
        self._checked = False

    def write_all(self) -> None:
        """Every chunk up to the end of the pending rows, or until the API budget stops the run."""
        waiting: Counter[int] = Counter()
        for units in self._chunks():
            for unit in units:
                if unit.skip == "waiting_for_salesforce_record":
                    waiting[unit.person_id] += len(unit.activity_ids)
            self.write_chunk(units)
            if self.budget.stopped:
                break
        if waiting:
            shown = ", ".join(str(p) for p in sorted(waiting)[:20])
            log.info("%d activity row(s) of %d person(s) wait for a Lead or Contact (people %s%s)",
                     sum(waiting.values()), len(waiting), shown, ", ..." if len(waiting) > 20 else "")

    def _chunks(self) -> Iterator[list[Unit]]:
        size = self.batch_size
        with self.mk.cursor(row_factory=dict_row) as cur:
            namespace = cur.execute("SELECT prefix FROM marketing_activity_namespace").fetchone()
            assert namespace is not None, "migration marketing/0010 inserts the namespace row"
            prefix = str(namespace["prefix"])
            if self.config.mode == "per_event":
                after = 0
                while rows := cur.execute(read_sql("writeback/activity_pending_events.sql"),
                                          {"after": after, "size": size}).fetchall():
                    self.mk.commit()
                    after = rows[-1]["id"]
                    yield [event_unit(row, self.config, prefix) for row in rows]
                return
            person, day = -1, date.min
            while rows := cur.execute(read_sql("writeback/activity_pending_days.sql"),
                                      {"tz": self.config.timezone, "after_person": person, "after_day": day,
                                       "size": size}).fetchall():
                self.mk.commit()
                person, day = rows[-1]["person_id"], rows[-1]["day"]
                yield [day_unit(row, self.config, prefix) for row in rows]

    def write_chunk(self, units: list[Unit]) -> None:
        """Upsert the chunk's records, save their results, then mark their activity rows."""
        ready = {unit.key: unit for unit in units if unit.skip is None}
        for unit in units:
            if unit.skip and unit.skip != "waiting_for_salesforce_record":
                unit.outcome, unit.reason = "skipped", unit.skip
        if ready:
            results = self._upsert(ready)
            for key, unit in ready.items():
                _apply(unit, results[key])
        for unit in units:
            self._count(unit)
        self._save([u for u in units if u.outcome is not None])

    def _upsert(self, ready: dict[str, Unit]) -> dict[str, RowResult]:
        rows = {key: unit.row(self.config) for key, unit in ready.items()}
        try:
            if not self._checked:
                self.gateway.check_fields(self.config.object, self.config.written_fields(), "activity.yaml")
                self._checked = True
            return self.ingest.write(self.config.object, "upsert", rows, key_column=self.config.external_id,
                                     external_id=self.config.external_id)
        except BudgetExhausted as exc:
            return {key: RowResult("deferred", code="api_budget", message=str(exc)) for key in rows}

    def _count(self, unit: Unit) -> None:
        tally = self.tally
        tally.extracted += 1
        if unit.attempts > 1:
            tally.retried += 1
        if unit.outcome in ("created", "updated", "failed"):
            setattr(tally, unit.outcome, getattr(tally, unit.outcome) + 1)
        elif unit.outcome == "deferred":
            tally.skipped[f"deferred_{unit.reason or 'unknown'}"] += 1
        else:
            tally.skipped[unit.reason or unit.skip or "unknown"] += 1

    def _save(self, units: list[Unit]) -> None:
        """Results first (committed), then the activity rows: a crash in between only re-sends."""
        if not units:
            return
        written = self.config.written_fields()
        with self.wh.cursor() as cur, cur.copy(_COPY_RESULTS) as copy:
            for u in units:
                copy.write_row((self.run_id, self.config.object, u.sf_id, TABLE, max(u.activity_ids or [0]),
                                "upsert" if u.outcome != "skipped" else "none", u.outcome, u.reason, u.error,
                                written if u.outcome in ("created", "updated") else [],
                                u.key, u.attempts, u.job_ids))
        self.wh.commit()
        mark_written(self.mk, [u for u in units if u.outcome in _MARK_OUTCOME])


def mark_written(marketing: psycopg.Connection, units: list[Unit]) -> None:
    """Mark the activity rows of settled units done, with the record each became."""
    rows: list[tuple[int, str, str | None]] = [(activity_id, _MARK_OUTCOME[u.outcome or ""], u.sf_id)
                                               for u in units for activity_id in u.activity_ids]
    if not rows:
        return
    ids, outcomes, sf_ids = (list(column) for column in zip(*rows, strict=True))
    with marketing.transaction():
        marketing.execute(read_sql("writeback/activity_mark.sql"), {"ids": ids, "outcomes": outcomes,
                                                                     "sf_ids": sf_ids})


def _apply(unit: Unit, result: RowResult) -> None:
    unit.attempts, unit.job_ids = result.attempts, result.job_ids
    unit.sf_id = result.sf_id
    if result.status == "succeeded":
        unit.outcome = "created" if result.created else "updated"
    elif result.status == "failed":
        unit.outcome, unit.reason, unit.error = "failed", result.code, result.message
    else:
        unit.outcome, unit.reason, unit.error = "deferred", result.code, result.message

