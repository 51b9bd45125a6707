"""`make demo`: full sync of the demo org, an hour of CRM activity, differentials, write-back, report.

Runs the project's real DAGs in-process with `dag.test()` against the stack that
`python -m devstack up` started (embedded PostgreSQL, the Salesforce emulator,
Airflow's metadata database); the environment comes from `.local/env.sh`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.report import marketing_totals, print_table, sync_runs_since

# Members last: a CampaignMember links to the person its Contact or Lead became.
OBJECTS = ("Account", "Campaign", "Contact", "Lead", "Opportunity", "CampaignMember")


def _now() -> datetime:
    from crm_sync.db import connect
    from crm_sync.settings import load_settings

    with connect(load_settings().warehouse_conn_id) as wh:
        return wh.execute("SELECT now()").fetchone()[0]


def run_dag(dag: Any, **params: Any) -> None:
    """Run one DAG in-process with `dag.test()`; exit with advice when it does not succeed."""
    print(f"   running {dag.dag_id} {params or ''}...", flush=True)
    dag_run = dag.test(run_conf=params or None)
    if dag_run.state != "success":
        raise SystemExit(f"{dag.dag_id} ended {dag_run.state}; run it with `airflow dags test` to see its logs")


def _run_full_sync(title: str) -> list[dict[str, Any]]:
    import crm_full_sync

    since = _now()
    print(f"\n== {title}", flush=True)
    run_dag(crm_full_sync.crm_full_sync, objects=list(OBJECTS), mode="upsert", dry_run=False)
    return sync_runs_since(since)


def _run_differentials(title: str) -> list[dict[str, Any]]:
    import crm_differential

    since = _now()
    print(f"\n== {title}", flush=True)
    for object_name in OBJECTS:
        run_dag(getattr(crm_differential, f"crm_differential_{object_name.lower()}"))
    return sync_runs_since(since)


def _run_writeback(title: str) -> list[dict[str, Any]]:
    """Run crm_writeback and print its report: per-object counts, then the records Salesforce rejected."""
    import crm_writeback

    from crm_sync.db import connect
    from crm_sync.settings import load_settings
    from devstack.report import failed_records, writeback_rows

    since = _now()
    print(f"\n== {title}", flush=True)
    run_dag(crm_writeback.crm_writeback)
    runs = sync_runs_since(since)
    written = [r for r in runs if r["kind"] == "writeback"]
    print_table("Write-back report", [writeback_rows(r) for r in written])
    print_table("Read back from Salesforce (created, linked or overwritten records)",
                [r for r in runs if r["kind"] == "record"])
    with connect(load_settings().warehouse_conn_id) as wh:
        print_table("Records Salesforce rejected", failed_records(wh, [r["run_id"] for r in written]))
    return runs


def _changes_table(summary: dict[str, Any]) -> dict[str, str]:
    """`{object: "3 updated, 1 deleted"}` from the emulator's mutate summary."""
    return {obj: ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()) if n)
            for obj, kinds in summary["counts"].items()}


def _showcase(admin: Any) -> None:
    """Step 8: what marketing platforms promise their CRM users, each shown end to end."""
    from devstack import (
        showcase_activity,
        showcase_campaigns,
        showcase_fields,
        showcase_lists,
        showcase_owners,
    )

    print("\n== 8. Campaigns, activity, fields sales sees, locked fields, segments, owners", flush=True)
    for showcase in (showcase_campaigns, showcase_activity, showcase_fields, showcase_lists, showcase_owners):
        showcase.show(admin)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=int(os.environ.get("CRM_DEMO_CHANGES", "200")),
                        help="how many CRM changes the simulated hour makes (default 200)")
    args = parser.parse_args(argv)
    if "CRM_EMULATOR_URL" not in os.environ:
        print("error: the stack environment is not loaded; run `make demo` (or source .local/env.sh)",
              file=sys.stderr)
        return 2
    # The task logs of every run would drown the report: keep them to warnings here (the
    # Airflow UI and `airflow dags test` show them in full).
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.basicConfig(level=logging.WARNING)
    # The emulator commits instantly, so the demo needs no real safety lag (Salesforce does:
    # the default is 15 s); 1 s keeps the idea without making the demo wait.
    os.environ.setdefault("CRM_SYNC_SAFETY_LAG_SECONDS", "1")
    lag = int(os.environ["CRM_SYNC_SAFETY_LAG_SECONDS"])
    from emulator.admin import AdminClient

    admin = AdminClient(os.environ["CRM_EMULATOR_URL"], Path(os.environ["REQUESTS_CA_BUNDLE"]))
    first = _run_full_sync("1. Full sync of the demo org (Bulk API 2.0; the way a new integration starts)")
    print_table("Sync log", first)

    print(f"\n== 2. Simulate an hour of Salesforce activity ({args.changes} changes)", flush=True)
    changes = _changes_table(admin.mutate(changes=args.changes))
    for object_name, text in sorted(changes.items()):
        print(f"   {object_name:<16} {text}")
    print(f"   (waiting {lag + 1} s: a window ends {lag} s before its run starts, the safety lag)", flush=True)
    time.sleep(lag + 1)

    second = _run_differentials("3. Differential syncs pick up the changes")
    print_table("Sync report", second, changes=changes)
    print_table("Marketing database", marketing_totals())

    print("\n== 4. Simulate an hour of marketing activity", flush=True)
    from crm_sync.db import connect
    from crm_sync.settings import load_settings
    from devstack.simulate import simulate_marketing_activity

    with connect(load_settings().marketing_conn_id) as mk:
        for kind, count in simulate_marketing_activity(mk).items():
            print(f"   {count:>4} {kind}")
    _run_writeback("5. Write-back to Salesforce (scores, visits, opt-outs, new people as Leads)")

    print(f"\n   (waiting {lag + 1} s: the safety lag)", flush=True)
    time.sleep(lag + 1)
    again = _run_differentials("6. No echo: the records the write-back touched come back and change nothing")
    print_table("Sync report", [r for r in again if r["object"] in ("Contact", "Lead")])
    _run_writeback("7. ...and the next write-back has nothing to write")
    _showcase(admin)
    print("\nThe sync log is table crm_sync.sync_runs in the warehouse; quarantined rows are in "
          "crm_quarantine.records with their reasons; per-record write-back results are in "
          "crm_sync.writeback_results.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
