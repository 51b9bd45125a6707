"""Step 3, validate: classify the staged batch, check it with Great Expectations, quarantine.

Rows skipped before validation (older versions of a record in the same batch, records
without a match key) are logged with their reason; Great Expectations (in `validation/`)
checks the rest in PostgreSQL; failing rows are the run's rejected rows
(`crm_staging.rejected`, which the load leaves out) and go to `crm_quarantine.records` with
reasons naming record and field, one open row per record and set of reasons (a dry run
counts them and writes no quarantine). A batch-level failure, or a quarantined share above
the threshold, rejects the whole batch: nothing of it is published.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg import sql

from crm_sync import alerts, runs
from crm_sync.context import RunContext
from crm_sync.db import analyze_after
from crm_sync.mapping.model import ColumnType, ObjectMapping
from crm_sync.runs import RunStatus
from crm_sync.sqlfiles import read_sql, template
from crm_sync.transform import LEAD_EXTRA_COLUMNS, missing_match_key_condition, validation_query

log = logging.getLogger(__name__)


class BatchRejected(RuntimeError):
    """Validation rejected the whole batch; nothing of it is published."""


def classify(wh: psycopg.Connection, run_id: int, mapping: ObjectMapping) -> None:
    """Record the rows skipped before validation: superseded versions and missing match keys."""
    wh.execute("DELETE FROM crm_sync.skipped WHERE run_id = %s", (run_id,))
    wh.execute(read_sql("validate/superseded.sql"), {"run_id": run_id})
    missing = missing_match_key_condition(mapping)
    if missing is not None and mapping.on_missing_match_key == "skip":
        wh.execute(template("validate/missing_match_key.sql", missing=missing,
                            reason=sql.Literal(f"missing_match_key:{mapping.match_field.source}")),
                   {"run_id": run_id})


def reject_rows(wh: psycopg.Connection, run_id: int, failures: dict[int, list[str]]) -> None:
    """Record rows of the run that failed validation (`failures`: row id → reasons), the run's verdicts."""
    row_ids = list(failures)
    if row_ids:
        wh.execute(read_sql("validate/rejected.sql"), {
            "run_id": run_id, "row_ids": row_ids, "reasons": ["\n".join(failures[row_id]) for row_id in row_ids]})


def quarantine_rejected(wh: psycopg.Connection, run_id: int, object_name: str, *, dry_run: bool = False) -> None:
    """Quarantine the run's rejected rows (`reject_rows`), once per record and set of reasons.

    An open row for the same record and reasons is refreshed, not doubled; a retried
    validation's open rows that it no longer rejects go. A dry run keeps only its verdicts
    (purged with its staging).
    """
    if dry_run:
        return
    wh.execute(read_sql("validate/unquarantine_retried.sql"), {"run_id": run_id})
    wh.execute(read_sql("validate/quarantine.sql"), {"run_id": run_id, "object": object_name})


def reference_columns(wh: psycopg.Connection, mapping: ObjectMapping) -> list[str]:
    """The batch columns holding Ids of other records, checked like the record's own Id.

    The mapped text fields that Salesforce's describe (as the run's extract saved it in
    `crm_sync.object_fields`) calls references, and a Lead's `converted_contact_id`.
    """
    described = {name.lower() for (name,) in wh.execute(
        "SELECT field FROM crm_sync.object_fields WHERE object = %s AND type IN ('reference', 'id')",
        (mapping.object,))}
    columns = [fm.target for fm in mapping.fields
               if fm.source.lower() in described and fm.type is ColumnType.TEXT and fm.values is None]
    if mapping.is_lead:
        columns += [name for _, name, kind in LEAD_EXTRA_COLUMNS if kind == "text"]
    return columns


def validate(ctx: RunContext, run_id: int) -> dict[str, int]:
    """Validate the run's batch with Great Expectations; quarantine failing rows.

    Returns the rows evaluated and quarantined.

    Raises:
        BatchRejected: when a batch-level expectation fails or the quarantined share is
            above the threshold (the run is marked failed; nothing is published).
    """
    from crm_sync.validation import validate_batch
    from crm_sync.validation.suite import import_gx

    # Great Expectations takes seconds to import: it loads in a thread while PostgreSQL
    # classifies the batch and computes it for GX (validate_batch waits for the import).
    threading.Thread(target=import_gx, name="gx-import", daemon=True).start()
    settings = ctx.settings
    with ctx.warehouse() as wh:
        run = runs.get_run(wh, run_id)
        mapping = ctx.mapping(run.object)
        with runs.step(wh, run_id, "validate"):
            classify(wh, run_id, mapping)
            analyze_after(wh, run.staged, ("crm_sync.skipped",))  # the batch query leaves them out
            wh.commit()
            # A retried validation replaces the run's earlier verdicts; the failing rows are
            # written slice by slice as GX names them (never all held at once).
            wh.execute("DELETE FROM crm_staging.rejected WHERE run_id = %s", (run_id,))
            outcome = validate_batch(
                mapping, ctx.mappings.value_maps, connection_string=ctx.warehouse_url(),
                query=validation_query(mapping, run_id),
                skip_null_match_key=mapping.on_missing_match_key == "skip",
                reference_columns=reference_columns(wh, mapping),
                on_row_failures=lambda failures: reject_rows(wh, run_id, failures),
            )
            quarantine_rejected(wh, run_id, mapping.object, dry_run=run.dry_run)
            # The load's statements join the run's rejected and quarantined rows.
            analyze_after(wh, outcome.evaluated, ("crm_staging.rejected", "crm_quarantine.records"))
            quarantined = outcome.failing_rows
            runs.update_run(wh, run_id, quarantined=quarantined, valid=outcome.evaluated - quarantined,
                            status=RunStatus.VALIDATED)
            threshold = mapping.quarantine_threshold if mapping.quarantine_threshold is not None \
                else settings.quarantine_threshold
            share = quarantined / outcome.evaluated if outcome.evaluated else 0.0
            problems = list(outcome.batch_failures)
            if outcome.evaluated >= settings.quarantine_min_rows and share > threshold:
                problems.append(f"{quarantined} of {outcome.evaluated} rows ({share:.1%}) failed validation, "
                                f"above the threshold of {threshold:.1%}")
            if problems:
                wh.commit()  # keep the quarantine rows for inspection (a dry run's verdicts only)
                raise BatchRejected(f"batch of run {run_id} rejected: " + "; ".join(problems))
            log.info("run %d: %d row(s) evaluated, %d quarantined (%.1f%%), %d expectations",
                     run_id, outcome.evaluated, quarantined, 100 * share, outcome.expectations_run)
            high = alerts.quarantine_high(mapping.object, quarantined, outcome.evaluated)
            if high and outcome.evaluated >= settings.quarantine_min_rows:
                alerts.send_alert(high)
        return {"evaluated": outcome.evaluated, "quarantined": quarantined}
