"""The steps every sync run goes through after extraction, callable with or without Airflow.

prepare -> extract (see extract.py) -> validate -> load -> finalize. Each step opens its own
connections (by Airflow connection id), records what it did in the run's sync log row, and
can be retried: extract re-stages (or resumes) its batch, validate re-derives its verdicts,
load is an upsert, and the watermark moves only in finalize, after the data it covers is
committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from crm_sync import runs
from crm_sync.db import connect, sqlalchemy_url
from crm_sync.load import ensure_target_table, load_run
from crm_sync.mapping.loader import MappingSet, load_mappings
from crm_sync.mapping.model import ObjectMapping
from crm_sync.migrations import migrate
from crm_sync.mirror import archive_absent
from crm_sync.paths import mappings_dir
from crm_sync.settings import Settings, load_settings
from crm_sync.summary import format_summary
from crm_sync.transform import missing_match_key_condition, validation_query

log = logging.getLogger(__name__)

# Runs at least this big refresh the statistics of the bookkeeping tables they grew.
_ANALYZE_AFTER_ROWS = 10_000

# Run kinds that move the object's watermark when they succeed (not dry runs).
WATERMARK_KINDS = ("differential", "full")


class BatchRejected(RuntimeError):
    """Validation rejected the whole batch; nothing of it is published."""


class SyncSkipped(RuntimeError):
    """The run must not sync now (e.g. a full sync holds the lock)."""


def config(object_name: str) -> tuple[Settings, MappingSet, ObjectMapping]:
    """Settings, all mappings, and the mapping of one object."""
    settings = load_settings()
    mapping_set = load_mappings(mappings_dir())
    return settings, mapping_set, mapping_set.get(object_name)


@contextmanager
def step(conn: psycopg.Connection, run_id: int, name: str) -> Iterator[None]:
    """Time a step; on failure roll back, mark the run failed with the error, re-raise."""
    started = time.monotonic()
    try:
        yield
    except Exception as exc:
        conn.rollback()
        runs.update_run(conn, run_id, status="failed", error=f"{name}: {exc}"[:4000],
                        finished_at=datetime.now(UTC), duration=(name, time.monotonic() - started))
        conn.commit()
        raise
    runs.update_run(conn, run_id, duration=(name, time.monotonic() - started))
    conn.commit()


# Serialises the reload of the mapping tables: the differentials of several objects start at
# the same minute, and two concurrent delete-and-insert reloads would collide on their keys.
_MAPPING_TABLES_LOCK = 4_217_002


def load_mapping_tables(conn: psycopg.Connection, mapping_set: MappingSet) -> None:
    """Replace the warehouse mapping tables with the content of the mapping files.

    Takes a transaction-scoped advisory lock; the caller commits.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MAPPING_TABLES_LOCK,))
    conn.execute("DELETE FROM crm_mapping.field_maps")
    conn.execute("DELETE FROM crm_mapping.value_maps")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO crm_mapping.field_maps (object, source, target, target_table, column_type,"
            " transform, direction, conflict, value_map) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(m.object, f.source, f.target, m.target, f.type.value, f.transform.value, f.direction.value,
              f.conflict.value if f.conflict else None, f.values) for m in mapping_set.objects for f in m.fields],
        )
        cur.executemany(
            "INSERT INTO crm_mapping.value_maps (map_name, crm_value, marketing_value) VALUES (%s, %s, %s)",
            [(vm.name, crm, mkt) for vm in mapping_set.value_maps.values() for crm, mkt in vm.pairs],
        )


def prepare(object_name: str, *, dag_run_id: str | None = None, respect_lock: bool = True) -> None:
    """Apply migrations, reload the mapping tables, make sure the target table exists.

    Raises:
        SyncSkipped: when `respect_lock` and a full sync holds the lock (a skipped run is logged).
    """
    settings, mapping_set, mapping = config(object_name)
    with connect(settings.warehouse_conn_id) as wh:
        migrate(wh, "warehouse")
        holder = runs.lock_holder(wh, runs.FULL_SYNC_LOCK)
        if holder and respect_lock:
            reason = f"full sync {holder} is running; differential syncs wait for it"
            run_id = runs.start_run(wh, object_name=mapping.object, kind="differential", dag_run_id=dag_run_id,
                                    window_start=None, window_end=None, watermark_before=None)
            runs.update_run(wh, run_id, status="skipped", error=reason, finished_at=datetime.now(UTC))
            wh.commit()
            raise SyncSkipped(reason)
        load_mapping_tables(wh, mapping_set)
        wh.commit()
    with connect(settings.marketing_conn_id) as mk:
        migrate(mk, "marketing")
        ensure_target_table(mk, mapping)
        mk.commit()


def _classify(wh: psycopg.Connection, run_id: int, mapping: ObjectMapping) -> None:
    """Record the rows skipped before validation: superseded versions and missing match keys."""
    wh.execute("DELETE FROM crm_sync.skipped WHERE run_id = %s", (run_id,))
    wh.execute(
        "INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)"
        " SELECT run_id, row_id, sf_id, 'superseded_in_batch' FROM ("
        "   SELECT run_id, row_id, sf_id, row_number() OVER (PARTITION BY sf_id"
        "          ORDER BY system_modstamp DESC, row_id DESC) AS version"
        "     FROM crm_staging.records WHERE run_id = %s) v WHERE version > 1",
        (run_id,),
    )
    missing = missing_match_key_condition(mapping)
    if missing is not None and mapping.on_missing_match_key == "skip":
        wh.execute(sql.SQL(
            "INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason)"
            " SELECT r.run_id, r.row_id, r.sf_id, {reason} FROM crm_staging.records r"
            " WHERE r.run_id = %(run_id)s AND NOT r.is_deleted AND {missing}"
            " ON CONFLICT DO NOTHING"
        ).format(reason=sql.Literal(f"missing_match_key:{mapping.match_field.source}"), missing=missing),
            {"run_id": run_id})


def _record_quarantine(wh: psycopg.Connection, run_id: int, object_name: str,
                       failures: dict[int, list[str]]) -> None:
    wh.execute("DELETE FROM crm_quarantine.records WHERE run_id = %s", (run_id,))
    if not failures:
        return
    row_ids = list(failures)
    reasons = ["\n".join(failures[row_id]) for row_id in row_ids]
    wh.execute(
        "INSERT INTO crm_quarantine.records (run_id, row_id, object, sf_id, reasons, payload)"
        " SELECT r.run_id, r.row_id, %s, r.sf_id, string_to_array(f.reasons, E'\\n'), r.payload"
        "   FROM unnest(%s::bigint[], %s::text[]) AS f(row_id, reasons)"
        "   JOIN crm_staging.records r ON r.row_id = f.row_id AND r.run_id = %s",
        (object_name, row_ids, reasons, run_id),
    )


def validate(run_id: int) -> dict[str, Any]:
    """Validate the run's batch with Great Expectations; quarantine failing rows.

    Raises:
        BatchRejected: when a batch-level expectation fails or the quarantined share is
            above the threshold (the run is marked failed; nothing is published).
    """
    from crm_sync.validation import validate_batch
    from crm_sync.validation.suite import import_gx

    # Great Expectations takes seconds to import: it loads in a thread while PostgreSQL
    # classifies the batch and computes it for GX (validate_batch waits for the import).
    threading.Thread(target=import_gx, name="gx-import", daemon=True).start()
    settings = load_settings()
    with connect(settings.warehouse_conn_id) as wh:
        object_name = runs.get_run(wh, run_id)["object"]
        _, mapping_set, mapping = config(object_name)
        with step(wh, run_id, "validate"):
            _classify(wh, run_id, mapping)
            wh.commit()
            outcome = validate_batch(
                mapping, mapping_set.value_maps, connection_string=sqlalchemy_url(settings.warehouse_conn_id),
                query=validation_query(mapping, run_id),
                skip_null_match_key=mapping.on_missing_match_key == "skip",
            )
            _record_quarantine(wh, run_id, mapping.object, outcome.row_failures)
            quarantined = len(outcome.row_failures)
            runs.update_run(wh, run_id, quarantined=quarantined, valid=outcome.evaluated - quarantined,
                            status="validated")
            threshold = mapping.quarantine_threshold if mapping.quarantine_threshold is not None \
                else settings.quarantine_threshold
            share = quarantined / outcome.evaluated if outcome.evaluated else 0.0
            problems = list(outcome.batch_failures)
            if outcome.evaluated >= settings.quarantine_min_rows and share > threshold:
                problems.append(f"{quarantined} of {outcome.evaluated} rows ({share:.1%}) failed validation, "
                                f"above the threshold of {threshold:.1%}")
            if problems:
                wh.commit()  # keep the quarantine rows for inspection
                raise BatchRejected(f"batch of run {run_id} rejected: " + "; ".join(problems))
            log.info("run %d: %d row(s) evaluated, %d quarantined (%.1f%%), %d expectations",
                     run_id, outcome.evaluated, quarantined, 100 * share, outcome.expectations_run)
        return {"evaluated": outcome.evaluated, "quarantined": quarantined}


def load(run_id: int) -> dict[str, int]:
    """Publish the run's valid rows into the marketing database; returns the outcome counts.

    A dry run computes the same counts and rolls the marketing transaction back. A full
    sync in mirror mode also archives marketing rows whose record Salesforce no longer has.
    """
    settings = load_settings()
    with connect(settings.warehouse_conn_id) as wh:
        run = runs.get_run(wh, run_id)
        _, _, mapping = config(run["object"])
        with step(wh, run_id, "load"), connect(settings.marketing_conn_id) as mk:
            result = load_run(wh, mk, mapping, run_id, dry_run=run["dry_run"])
            with wh.cursor() as cur:
                cur.executemany(
                    "INSERT INTO crm_sync.skipped (run_id, row_id, sf_id, reason) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (run_id, row_id) DO UPDATE SET reason = EXCLUDED.reason",
                    [(run_id, row_id, sf_id, reason) for row_id, sf_id, reason in result.skipped],
                )
            reasons = dict(wh.execute(
                "SELECT reason, count(*) FROM crm_sync.skipped WHERE run_id = %s GROUP BY reason ORDER BY reason",
                (run_id,)).fetchall())
            report: dict[str, Any] = {}
            if run["kind"] == "full" and not run["dry_run"]:
                # A full sync can change most of the table at once; the differentials that
                # follow must not be planned on statistics of the table as it was before.
                with mk.cursor() as cur:
                    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(mapping.target)))
                mk.commit()
            if run["kind"] == "full" and run["report"].get("mode") == "mirror":
                report["mirror_archived"] = archive_absent(wh, mk, mapping, run_id, dry_run=run["dry_run"])
                log.info("run %d: mirror archived %d marketing row(s) whose %s is gone from Salesforce",
                         run_id, report["mirror_archived"], mapping.object)
            runs.update_run(wh, run_id, created=result.counts["created"], updated=result.counts["updated"],
                            archived=result.counts["archived"], unchanged=result.counts["unchanged"],
                            skipped=sum(reasons.values()), skipped_reasons=reasons, status="loaded",
                            report=report)
        return dict(result.counts)


def _remember_records(wh: psycopg.Connection, run_id: int, object_name: str) -> None:
    """Keep the latest version and outcome of every record this run processed."""
    wh.execute(
        "INSERT INTO crm_sync.synced_records (object, sf_id, system_modstamp, is_deleted, outcome, run_id)"
        " SELECT DISTINCT ON (r.sf_id) %(object)s, r.sf_id, r.system_modstamp, r.is_deleted,"
        "        CASE WHEN q.row_id IS NOT NULL THEN 'quarantined'"
        "             WHEN s.row_id IS NOT NULL THEN 'skipped' ELSE 'published' END, r.run_id"
        "   FROM crm_staging.records r"
        "   LEFT JOIN crm_quarantine.records q ON q.run_id = r.run_id AND q.row_id = r.row_id"
        "   LEFT JOIN crm_sync.skipped s ON s.run_id = r.run_id AND s.row_id = r.row_id"
        "  WHERE r.run_id = %(run_id)s"
        "  ORDER BY r.sf_id, r.system_modstamp DESC, r.row_id DESC"
        " ON CONFLICT (object, sf_id) DO UPDATE SET system_modstamp = EXCLUDED.system_modstamp,"
        "   is_deleted = EXCLUDED.is_deleted, outcome = EXCLUDED.outcome, run_id = EXCLUDED.run_id"
        " WHERE crm_sync.synced_records.system_modstamp <= EXCLUDED.system_modstamp",
        {"object": object_name, "run_id": run_id},
    )


def finalize(run_id: int) -> dict[str, Any]:
    """Advance the watermark (differential and full runs), close the run, purge old staging.

    Returns the final sync log row; its summary is logged.
    """
    settings = load_settings()
    with connect(settings.warehouse_conn_id) as wh:
        run = runs.get_run(wh, run_id)
        if run["status"] != "loaded":
            raise RuntimeError(f"run {run_id} is {run['status']!r}, not loaded: the watermark stays")
        with step(wh, run_id, "finalize"):
            moves_watermark = run["kind"] in WATERMARK_KINDS and not run["dry_run"]
            if moves_watermark:
                runs.set_watermark(wh, run["object"], run["window_end"], run_id)
            if not run["dry_run"]:
                _remember_records(wh, run_id, run["object"])
                # Older quarantine entries of records that now loaded are settled.
                wh.execute(
                    "UPDATE crm_quarantine.records q SET status = 'superseded', resolved_at = now()"
                    "  FROM crm_staging.records r"
                    " WHERE r.run_id = %s AND q.object = %s AND q.status = 'open' AND q.run_id < r.run_id"
                    "   AND q.sf_id = r.sf_id AND NOT EXISTS (SELECT 1 FROM crm_quarantine.records n"
                    "        WHERE n.run_id = r.run_id AND n.row_id = r.row_id)",
                    (run_id, run["object"]),
                )
            purged = wh.execute(
                "DELETE FROM crm_staging.records WHERE run_id IN (SELECT run_id FROM crm_sync.sync_runs"
                " WHERE finished_at < now() - make_interval(days => %s))",
                (settings.staging_retention_days,),
            ).rowcount
            if purged:
                log.info("purged %d staging row(s) older than %d days", purged, settings.staging_retention_days)
            if run["extracted"] >= _ANALYZE_AFTER_ROWS:
                # A big run grows the bookkeeping tables by as much; until autovacuum gets to
                # them, the next runs' anti-joins against them would be planned as if empty.
                for table in ("crm_sync.skipped", "crm_quarantine.records", "crm_sync.synced_records"):
                    wh.execute(f"ANALYZE {table}")
            runs.update_run(wh, run_id, status="dry_run" if run["dry_run"] else "succeeded",
                            watermark_after=run["window_end"] if moves_watermark else run["watermark_before"],
                            finished_at=datetime.now(UTC))
        final = runs.get_run(wh, run_id)
    log.info("%s", format_summary(final))
    return final
