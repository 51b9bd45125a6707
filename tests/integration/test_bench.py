"""The benchmark harness works: `python -m bench --small` prints one valid line per scenario.

This checks the output, never the speed (targets live in the benchmark, docs/performance.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["full_sync_1m", "differential_5k", "writeback_100k", "airflow_differentials", "airflow_full_sync"]
AIRFLOW_PHASES = {"scheduling", "queueing", "process_start", "dag_parse", "work", "xcom_and_exit"}
DIFFERENTIAL_TASKS = {"extract", "publish"}
CONTRACT = {  # DESIGN.md §3
    "scenario": str, "records": int, "seconds": (int, float), "records_per_s": (int, float),
    "peak_rss_mb": (int, float), "api_calls": int, "floor_seconds": (int, float), "ratio_to_floor": (int, float),
}


@pytest.mark.timeout(2400)
def test_small_bench_prints_one_contract_line_per_scenario() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "bench", "--small"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=2400, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()[-len(SCENARIOS):]
    results = [json.loads(line) for line in lines]
    assert [r["scenario"] for r in results] == SCENARIOS
    for result in results:
        for key, kind in CONTRACT.items():
            assert isinstance(result[key], kind), (result["scenario"], key, result[key])
        assert result["records"] > 0 and result["seconds"] > 0 and result["floor_seconds"] > 0
        assert result["api_calls"] > 0 and result["peak_rss_mb"] > 0
        assert result["records_per_s"] == pytest.approx(result["records"] / result["seconds"], rel=0.05, abs=1)
        assert result["ratio_to_floor"] == pytest.approx(result["seconds"] / result["floor_seconds"], rel=0.05)
    by_name = {r["scenario"]: r for r in results}
    differentials = by_name["airflow_differentials"]
    assert differentials["dag_runs"] == 5
    assert set(differentials["per_task_s"]) == DIFFERENTIAL_TASKS
    for task, phases in differentials["per_task_s"].items():
        assert AIRFLOW_PHASES <= set(phases) <= AIRFLOW_PHASES | {"sync_step"}, task
        assert all(value >= 0 for value in phases.values()), (task, phases)
    assert all(count == 1 for count in differentials["xcoms_per_task"].values()), differentials["xcoms_per_task"]
    assert differentials["records"] >= sum(differentials["changed"].values()) > 0
    assert differentials["first_round_seconds"] > 0  # the round on the fresh scheduler, timed apart
    full = by_name["airflow_full_sync"]
    assert full["dag_runs"] == 1 and "sync_object" in full["per_task_s"]
    assert full["records"] == by_name["full_sync_1m"]["records"]
    assert full["ratio_to_full_sync_1m"] == pytest.approx(full["seconds"] / by_name["full_sync_1m"]["seconds"],
                                                          rel=0.05)
