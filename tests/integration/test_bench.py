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
SCENARIOS = ["full_sync_1m", "differential_5k", "writeback_100k"]
CONTRACT = {  # DESIGN.md §3
    "scenario": str, "records": int, "seconds": (int, float), "records_per_s": (int, float),
    "peak_rss_mb": (int, float), "api_calls": int, "floor_seconds": (int, float), "ratio_to_floor": (int, float),
}


@pytest.mark.timeout(900)
def test_small_bench_prints_one_contract_line_per_scenario() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "bench", "--small"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
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
