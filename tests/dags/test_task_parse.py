"""A task process parses `crm_differential.py` for its own DAG only; everyone else gets every DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crm_sync.mapping import load_mappings
from crm_sync.paths import INCLUDE_DIR

ROOT = Path(__file__).resolve().parents[2]
_CODE = """
import json, os, runpy
defined = {}
for wanted in (None, "crm_differential_contact"):
    if wanted:
        os.environ["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = wanted  # what Airflow's task runner sets
    names = runpy.run_path(os.environ["DAG_FILE"])
    defined[str(wanted)] = sorted(n for n in names if n.startswith("crm_differential_"))
print(json.dumps(defined))
"""


def test_a_task_process_builds_only_the_dag_it_runs() -> None:
    env = {**os.environ, "DAG_FILE": str(ROOT / "dags" / "crm_differential.py"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    proc = subprocess.run([sys.executable, "-c", _CODE], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    defined = json.loads(proc.stdout.strip().splitlines()[-1])
    every = sorted(m.dag_id for m in load_mappings(INCLUDE_DIR / "mappings").objects)
    assert defined["None"] == every and len(every) >= 5
    assert defined["crm_differential_contact"] == ["crm_differential_contact"]
