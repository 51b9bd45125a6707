"""Where the time of an Airflow run goes, per task: from the metadata database and the task logs.

For each task instance (Airflow's timestamps, in this order):

* ``scheduling``: from the moment the task could run (its upstream's end, or the trigger for
  the first tasks) until the scheduler marked it scheduled (``scheduled_dttm``);
* ``queueing``: scheduled → queued to the executor (``queued_dttm``);
* ``process_start``: queued → the task process started and said so (``start_date``): a
  LocalExecutor worker picks it up and the supervisor forks the task process;
* ``dag_parse``: from ``start_date`` to the end of the task log's "Pre Execute" group: the
  task process loads the DAG bundle, parses the DAG file (all the DAGs it defines) and
  gets its task instance ready;
* ``work``: the task's callable, from there to the log's "Done. Returned value was" (of
  which ``sync_step``: the sync log's durations of the steps the task runs: a differential's
  ``extract`` is the extract step, after its prepare; ``publish`` is validate, load and
  finalize);
* ``xcom_and_exit``: from "Done." to ``end_date``: pushing the return value (one XCom), the
  final state, the process's exit.

Each is summed over the tasks of a DAG run and over all runs, and reported per task name.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import psycopg
from psycopg.rows import dict_row

from bench.airflow import AirflowStack, seconds_between

PHASES = ("scheduling", "queueing", "process_start", "dag_parse", "work", "xcom_and_exit")
#: Part of ``work``: the sync log's durations of the steps the task runs (extract, validate, ...).
SUB_PHASES = ("sync_step",)
# The sync log's steps each differential task runs.
_STEPS = {"extract": ("extract",), "publish": ("validate", "load", "finalize")}
# Task log events around the task body: Airflow's "Pre Execute" group (DAG file parsed, the
# task instance loaded) ends just before the callable runs; "Done." follows its return.
_BODY_STARTS = "::endgroup::"
_BODY_ENDS = ("Done. Returned value was", "Task failed with exception")


class RssSampler:
    """Samples the RSS of the Airflow services' descendants (the task processes) while running."""

    def __init__(self, processes: list[Any], interval: float = 0.2) -> None:
        self.roots = [p.process.pid for p in processes]
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.roots:
                try:
                    children = psutil.Process(pid).children(recursive=True)
                except psutil.Error:
                    continue
                for child in children:
                    try:
                        # A task process: a grandchild (or deeper) of a service, not a service itself.
                        self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                    except psutil.Error:
                        continue
            self._stop.wait(self.interval)


def _log_events(path: Path) -> list[tuple[datetime, str]]:
    """(timestamp, event) of every JSON line of a task log."""
    events = []
    if not path.exists():
        return events
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            events.append((datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")), str(entry["event"])))
        except (ValueError, KeyError, TypeError):
            continue
    return events


def _task_phases(ti: dict[str, Any], ready: datetime, events: list[tuple[datetime, str]],
                 step_seconds: float | None) -> dict[str, float | None]:
    body_start = next((ts for ts, event in events if event == _BODY_STARTS), None)
    body_end = next((ts for ts, event in events if event.startswith(_BODY_ENDS)), None)
    return {
        "scheduling": seconds_between(ready, ti["scheduled_dttm"]),
        "queueing": seconds_between(ti["scheduled_dttm"], ti["queued_dttm"]),
        "process_start": seconds_between(ti["queued_dttm"], ti["start_date"]),
        "dag_parse": seconds_between(ti["start_date"], body_start),
        "work": seconds_between(body_start, body_end),
        "sync_step": step_seconds,
        "xcom_and_exit": seconds_between(body_end, ti["end_date"]),
    }


def breakdown(airflow: AirflowStack, warehouse_dsn: str, runs: dict[str, str],
              finished: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-task overheads of the finished runs, the records they extracted and their stage times."""
    with psycopg.connect(warehouse_dsn) as wh, wh.cursor(row_factory=dict_row) as cur:
        sync_runs = cur.execute("SELECT dag_run_id, object, extracted, durations FROM crm_sync.sync_runs"
                                " WHERE dag_run_id = ANY(%s)", (list(runs.values()),)).fetchall()
    steps: dict[str, dict[str, float]] = defaultdict(dict)
    stages: dict[str, float] = defaultdict(float)
    for row in sync_runs:
        for name, value in (row["durations"] or {}).items():
            steps[row["dag_run_id"]][name] = steps[row["dag_run_id"]].get(name, 0.0) + float(value)
            stages[name] += float(value)
    per_task: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    totals: dict[str, float] = defaultdict(float)
    xcoms: dict[str, int] = {}
    for dag_id, run_id in runs.items():
        trigger = finished[dag_id]["queued_at"]
        ends: dict[str, datetime] = {}
        for ti in airflow.task_instances(dag_id, run_id):
            ready = max([t for t in ends.values() if t <= (ti["scheduled_dttm"] or trigger)], default=trigger)
            log = airflow.task_log(dag_id, run_id, ti["task_id"], ti["map_index"], ti["try_number"])
            names = _STEPS.get(ti["task_id"], ())
            step = sum(steps[run_id].get(n, 0.0) for n in names) if names else None
            for phase, value in _task_phases(ti, ready, _log_events(log), step).items():
                if phase == "sync_step" and value is None:
                    continue
                per_task[ti["task_id"]][phase] += value or 0.0
                totals[phase] += value or 0.0
            if ti["end_date"] is not None:
                ends[ti["task_id"]] = ti["end_date"]
        for task_id, count in airflow.xcom_count(dag_id, run_id).items():
            xcoms[task_id] = max(xcoms.get(task_id, 0), count)
    runs_n = len(runs)
    return {
        "records": sum(int(r["extracted"] or 0) for r in sync_runs),
        "stages": dict(stages),
        "dag_runs": runs_n,
        "overheads_s": {phase: round(totals[phase], 2) for phase in PHASES + SUB_PHASES},
        "per_task_s": {task: {phase: round(values[phase] / runs_n, 2) for phase in PHASES + SUB_PHASES
                              if phase in values} for task, values in per_task.items()},
        "xcoms_per_task": xcoms,
    }
