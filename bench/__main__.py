"""`python -m bench`: run the benchmark scenarios and print one JSON line per scenario, last.

    python -m bench                                  # all scenarios, 1,000,000 Contacts
    python -m bench --scenarios full_sync_1m --records 100000
    python -m bench --small                          # the test-sized run (2,000 Contacts)

Every run starts its own throw-away PostgreSQL and emulator in a temporary directory (see
bench/stack.py) and removes them afterwards. Each scenario's work runs in a child process
(`python -m bench _worker ...`), so its peak RSS is the sync's own; the floor runs in
another child right after it. docs/performance.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCENARIOS = ("full_sync_1m", "differential_5k", "writeback_100k", "airflow_differentials", "airflow_full_sync")
DIFFERENTIAL_OBJECTS = ("Account", "Campaign", "Contact", "Lead", "Opportunity")
RESULT_PREFIX = "BENCH_RESULT "
# The field each differential changes, per object (plain text fields every record has).
_CHANGED_FIELD = {"Account": "Name", "Campaign": "Name", "Contact": "Title", "Lead": "Title", "Opportunity": "Name"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- child side ----------------------------------------------------------------------------------


def _worker(task: str, arguments: dict[str, Any]) -> None:
    import logging

    logging.basicConfig(level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from bench import floor, work

    if not task.startswith("floor"):
        # What the Airflow task process has loaded before the task body runs (the DAG files
        # import these at parse time): not the sync's own cost.
        import airflow.sdk  # noqa: F401

        import crm_sync.extract  # noqa: F401
        import crm_sync.publish  # noqa: F401

        # The Airflow worker imports Great Expectations once before it forks its task
        # processes (crm_sync.validation.preload): a publish task finds it imported.
        from crm_sync.validation.suite import import_gx

        import_gx()
    if os.environ.get("BENCH_LOG_LEVEL"):
        # Airflow's import replaces the logging set-up: the sync's own loggers log again.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        for name in ("crm_sync", "bench"):
            logger = logging.getLogger(name)
            logger.setLevel(os.environ["BENCH_LOG_LEVEL"])
            logger.addHandler(handler)
            logger.propagate = False
    function = {"full_sync": work.full_sync, "differential": work.differential,
                "writeback_prepare": work.writeback_prepare, "writeback": work.writeback,
                "floor_full": floor.full, "floor_differential": floor.differential,
                "floor_writeback": floor.writeback}[task]
    result = function(**arguments)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


# -- parent side ---------------------------------------------------------------------------------


class Bench:
    """Runs the scenarios on one stack, keeping track of what is already synced."""

    def __init__(self, stack: Any, *, changes: int, scores: int, records: int) -> None:
        self.stack = stack
        self.admin = stack.emulator.admin()
        self.changes = changes
        self.scores = scores
        self.records = records
        self.synced: set[str] = set()
        self.airflow: Any = None  # bench.airflow.AirflowStack, started by the first Airflow scenario
        self.full_sync_line: dict[str, Any] | None = None

    def run(self, task: str, **arguments: Any) -> dict[str, Any]:
        """Run one task in a child process; return its result (with its peak RSS)."""
        env = {**os.environ, **self.stack.env}
        proc = subprocess.run([sys.executable, "-m", "bench", "_worker", task, json.dumps(arguments)],
                              env=env, stdout=subprocess.PIPE, text=True, check=False)
        results = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if proc.returncode or not results:
            raise RuntimeError(f"bench task {task} failed (exit {proc.returncode}); its log is above")
        return json.loads(results[-1][len(RESULT_PREFIX):])

    def ensure_synced(self, objects: tuple[str, ...] | list[str]) -> None:
        """Full-sync the objects not synced yet (set-up, not timed)."""
        missing = [o for o in objects if o not in self.synced]
        if missing:
            _say(f"bench: set-up full sync of {', '.join(missing)}")
            self.run("full_sync", objects=missing, dag_run_id=f"bench_setup_{int(time.time())}")
            self.synced.update(missing)

    def timed(self, task: str, **arguments: Any) -> tuple[dict[str, Any], int]:
        """Run a task with the emulator's API counter reset; return its result and API calls."""
        self.admin.reset_stats()
        result = self.run(task, **arguments)
        return result, int(self.admin.stats()["api_calls"])

    def line(self, scenario: str, result: dict[str, Any], api_calls: int, floor: dict[str, Any],
             **extra: Any) -> dict[str, Any]:
        seconds, records = result["seconds"], result["records"]
        return {
            "scenario": scenario,
            "records": records,
            "seconds": round(seconds, 2),
            "records_per_s": round(records / seconds) if seconds else None,
            "peak_rss_mb": round(result["peak_rss_mb"], 1),
            "api_calls": api_calls,
            "floor_seconds": round(floor["seconds"], 2),
            "ratio_to_floor": round(seconds / floor["seconds"], 2) if floor["seconds"] else None,
            "floor_records": floor["records"],
            "floor_api_calls": floor["api_calls"],
            "org_contacts": self.records,
            "stages": {name: round(value, 2) for name, value in sorted(result.get("stages", {}).items())},
            **extra,
        }

    # -- scenarios ----------------------------------------------------------------------------

    def full_sync_1m(self) -> dict[str, Any]:
        _say(f"bench: full_sync_1m: full sync of {self.records:,} Contacts")
        result, calls = self.timed("full_sync", objects=["Contact"], dag_run_id=f"bench_full_{int(time.time())}")
        self.synced.add("Contact")
        floor, floor_calls = self.timed("floor_full", object_name="Contact", dsn=self.stack.dsn("marketing"),
                                        page_size=int(self._setting("CRM_SYNC_BULK_PAGE_SIZE", 50_000)))
        floor["api_calls"] = floor_calls
        self.full_sync_line = self.line("full_sync_1m", result, calls, floor)
        return self.full_sync_line

    def _change_all(self, scenario: str) -> tuple[dict[str, int], dict[str, str]]:
        """Change records of every differential object (set-up); return the counts and the watermarks."""
        import psycopg

        self.ensure_synced(DIFFERENTIAL_OBJECTS)
        _say(f"bench: {scenario}: changing {self.changes:,} records of each of {len(DIFFERENTIAL_OBJECTS)} objects")
        changed = {}
        with psycopg.connect(self.stack.dsn("crm_warehouse")) as wh:
            for object_name in DIFFERENTIAL_OBJECTS:
                ids = [row[0] for row in wh.execute(
                    "SELECT sf_id FROM crm_sync.synced_records WHERE object = %s AND NOT is_deleted"
                    " AND outcome = 'published' ORDER BY sf_id LIMIT %s", (object_name, self.changes))]
                changed[object_name] = self._change(object_name, ids)
        time.sleep(self._lag() + 1)  # the changes must be older than the sync's safety lag
        with psycopg.connect(self.stack.dsn("crm_warehouse")) as wh:
            watermarks = {o: wh.execute("SELECT watermark FROM crm_sync.watermarks WHERE object = %s"
                                        " AND direction = 'from_crm'", (o,)).fetchone()[0].isoformat()
                          for o in DIFFERENTIAL_OBJECTS}
        return changed, watermarks

    def _lag(self) -> int:
        return int(self._setting("CRM_SYNC_SAFETY_LAG_SECONDS", 15))

    def _differential_floor(self, watermarks: dict[str, str]) -> dict[str, Any]:
        floor, floor_calls = self.timed(
            "floor_differential", watermarks=watermarks, dsn=self.stack.dsn("marketing"),
            lookback_seconds=int(self._setting("CRM_SYNC_LOOKBACK_SECONDS", 300)), lag_seconds=self._lag(),
            bulk_threshold=int(self._setting("CRM_SYNC_BULK_THRESHOLD", 10_000)))
        floor["api_calls"] = floor_calls
        return floor

    def differential_5k(self) -> dict[str, Any]:
        changed, watermarks = self._change_all("differential_5k")
        _say("bench: differential_5k: one differential run per object")
        result, calls = self.timed("differential", objects=list(DIFFERENTIAL_OBJECTS))
        floor = self._differential_floor(watermarks)
        return self.line("differential_5k", result, calls, floor, changed=changed,
                         api_calls_per_object=round(calls / len(DIFFERENTIAL_OBJECTS), 1))

    def airflow_differentials(self) -> dict[str, Any]:
        from bench import timings

        self.ensure_synced(DIFFERENTIAL_OBJECTS)
        airflow = self._airflow()
        dag_ids = [f"crm_differential_{o.lower()}" for o in DIFFERENTIAL_OBJECTS]
        # The hourly runs users wait for meet a scheduler that has run tasks before: the first
        # round after its start (nothing changed) is timed apart, as `first_round_seconds`.
        _say("bench: airflow_differentials: a first round of the five DAGs on the fresh scheduler")
        first_round, _, _ = self._together(airflow, dag_ids, "airflow_differentials (first round)")
        changed, watermarks = self._change_all("airflow_differentials")
        _say("bench: airflow_differentials: triggering the five differential DAGs together")
        self.admin.reset_stats()
        sampler = timings.RssSampler(airflow.services.processes)
        with sampler:
            seconds, runs, finished = self._together(airflow, dag_ids, "airflow_differentials")
        calls = int(self.admin.stats()["api_calls"])
        report = timings.breakdown(airflow, self.stack.dsn("crm_warehouse"), runs, finished)
        result = {"seconds": seconds, "records": report.pop("records"), "stages": report.pop("stages"),
                  "peak_rss_mb": sampler.peak_mb}
        floor = self._differential_floor(watermarks)
        return self.line("airflow_differentials", result, calls, floor, changed=changed,
                         api_calls_per_object=round(calls / len(DIFFERENTIAL_OBJECTS), 1),
                         first_round_seconds=round(first_round, 2), **report)

    @staticmethod
    def _together(airflow: Any, dag_ids: list[str], what: str) -> tuple[float, dict[str, str], dict[str, Any]]:
        """Trigger the DAGs at once, wait for all; returns the seconds, the runs and their rows."""
        started = time.monotonic()
        runs = {dag_id: airflow.trigger(dag_id) for dag_id in dag_ids}
        finished = airflow.wait_finished(runs)
        seconds = time.monotonic() - started
        failed = sorted(d for d, row in finished.items() if row["state"] != "success")
        if failed:
            raise RuntimeError(f"{what}: {', '.join(failed)} failed; see {airflow.services.log_dir}")
        return seconds, runs, finished

    def airflow_full_sync(self) -> dict[str, Any]:
        from bench import timings

        self.ensure_synced(("Contact",))
        airflow = self._airflow()
        _say(f"bench: airflow_full_sync: crm_full_sync of the {self.records:,} Contacts through Airflow")
        self.admin.reset_stats()
        sampler = timings.RssSampler(airflow.services.processes)
        with sampler:
            started = time.monotonic()
            runs = {"crm_full_sync": airflow.trigger("crm_full_sync", {"objects": ["Contact"]})}
            finished = airflow.wait_finished(runs)
            seconds = time.monotonic() - started
        calls = int(self.admin.stats()["api_calls"])
        if finished["crm_full_sync"]["state"] != "success":
            raise RuntimeError(f"airflow_full_sync: crm_full_sync failed; see {airflow.services.log_dir}")
        report = timings.breakdown(airflow, self.stack.dsn("crm_warehouse"), runs, finished)
        # The same re-sync, outside Airflow, in the same state (both find every Contact synced).
        _say("bench: airflow_full_sync: the same full sync outside Airflow, for the ratio")
        direct, _ = self.timed("full_sync", objects=["Contact"], dag_run_id=f"bench_full_direct_{int(time.time())}")
        result = {"seconds": seconds, "records": report.pop("records"), "stages": report.pop("stages"),
                  "peak_rss_mb": sampler.peak_mb}
        floor, floor_calls = self.timed("floor_full", object_name="Contact", dsn=self.stack.dsn("marketing"),
                                        page_size=int(self._setting("CRM_SYNC_BULK_PAGE_SIZE", 50_000)))
        floor["api_calls"] = floor_calls
        extra: dict[str, Any] = {"direct_seconds": round(direct["seconds"], 2),
                                 "ratio_to_direct": round(seconds / direct["seconds"], 2)}
        if self.full_sync_line:
            extra["full_sync_1m_seconds"] = self.full_sync_line["seconds"]
            extra["ratio_to_full_sync_1m"] = round(seconds / self.full_sync_line["seconds"], 2)
        return self.line("airflow_full_sync", result, calls, floor, **extra, **report)

    def _airflow(self) -> Any:
        """The Airflow services, started on first use (stopped by `close`)."""
        if self.airflow is None:
            from bench.airflow import AirflowStack

            dag_ids = [f"crm_differential_{o.lower()}" for o in DIFFERENTIAL_OBJECTS] + ["crm_full_sync"]
            self.airflow = AirflowStack(self.stack.env, self.stack.base_dir / "airflow_logs", _say)
            self.airflow.start(dag_ids)
        return self.airflow

    def close(self) -> None:
        """Stop what the scenarios started."""
        if self.airflow is not None:
            self.airflow.stop()

    def writeback_100k(self) -> dict[str, Any]:
        import psycopg

        self.ensure_synced(("Contact",))
        self.run("writeback_prepare")  # installs change tracking, as the first write-back run does
        with psycopg.connect(self.stack.dsn("marketing")) as mk:
            mk.execute("CREATE SCHEMA IF NOT EXISTS bench")
            mk.execute("DROP TABLE IF EXISTS bench.changed_scores")
            mk.execute("CREATE TABLE bench.changed_scores AS SELECT id FROM people WHERE contact_sf_id IS NOT NULL"
                       f" AND archived_at IS NULL ORDER BY id LIMIT {int(self.scores)}")
            started = time.monotonic()
            changed = mk.execute("UPDATE people p SET lead_score = COALESCE(p.lead_score, 0) + 1 + p.id % 7"
                                 " FROM bench.changed_scores c WHERE c.id = p.id").rowcount
            mk.commit()
            # What change tracking (its statement trigger) adds to a marketing-side edit of them all.
            tracked_edit = time.monotonic() - started
        _say(f"bench: writeback_100k: writing back {changed:,} changed lead scores")
        result, calls = self.timed("writeback")
        result["records"] = changed
        floor, floor_calls = self.timed("floor_writeback", dsn=self.stack.dsn("marketing"))
        floor["api_calls"] = floor_calls
        return self.line("writeback_100k", result, calls, floor, writeback_runs=result.get("runs"),
                         tracked_edit_seconds=round(tracked_edit, 2))

    # -- helpers ------------------------------------------------------------------------------

    def _setting(self, name: str, default: int) -> str:
        return self.stack.env.get(name) or os.environ.get(name) or str(default)

    def _change(self, object_name: str, ids: list[str]) -> int:
        """Change one text field of the records with one Bulk 2.0 update job (set-up, not timed)."""
        import csv
        import io

        from simple_salesforce.bulk2 import Operation

        from bench.floor import salesforce

        if not ids:
            return 0
        os.environ.update(self.stack.env)
        field = _CHANGED_FIELD[object_name]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["Id", field])
        stamp = int(time.time())
        writer.writerows([(sf_id, f"Bench {stamp} {n}") for n, sf_id in enumerate(ids)])
        client = getattr(salesforce().bulk2, object_name)._client
        job_id = client.create_job(Operation.update)["id"]
        client.upload_job_data(job_id, buffer.getvalue())
        client.close_job(job_id)
        client.wait_for_job(job_id, False, 0.2)
        return len(ids)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["_worker"]:
        _worker(args[1], json.loads(args[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--records", type=int, default=1_000_000, help="Contacts in the org (default 1,000,000)")
    parser.add_argument("--changes", type=int, default=1_000, help="changed records per object (default 1,000)")
    parser.add_argument("--scores", type=int, default=100_000, help="lead scores written back (default 100,000)")
    parser.add_argument("--small", action="store_true",
                        help="test-sized run: 2,000 Contacts, 50 changes per object, 500 scores")
    parser.add_argument("--keep", action="store_true", help="keep the temporary stack directory")
    parser.add_argument("--output", type=Path, default=None, help="also append the JSON lines to this file")
    options = parser.parse_args(args)
    if options.small:
        options.records, options.changes, options.scores = 2_000, 50, 500
    scenarios = [s.strip() for s in options.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    from bench.stack import throwaway_stack

    lines = []
    with throwaway_stack(options.records, keep=options.keep, say=_say) as stack:
        bench = Bench(stack, changes=options.changes, scores=options.scores, records=options.records)
        try:
            for scenario in scenarios:
                lines.append(getattr(bench, scenario)())
                _say(f"bench: {json.dumps(lines[-1])}")
        finally:
            bench.close()
    if options.output:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        with options.output.open("a") as out:
            out.writelines(json.dumps(line) + "\n" for line in lines)
    for line in lines:
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
