"""A dry run writes nothing anywhere, and still says what a real run would quarantine."""

from __future__ import annotations

import uuid

from airflow.utils.state import DagRunState

# What a dry run must leave as it found it, read as one comparable value per table.
WAREHOUSE_STATE = {
    "quarantine": "SELECT md5(string_agg(q::text, ',' ORDER BY quarantine_id)) AS v FROM crm_quarantine.records q",
    "watermarks": "SELECT md5(string_agg(w::text, ',' ORDER BY object, direction)) AS v FROM crm_sync.watermarks w",
    "synced_records": "SELECT md5(string_agg(s::text, ',' ORDER BY object, sf_id)) AS v FROM crm_sync.synced_records s",
    "record_events": "SELECT count(*) AS v FROM crm_sync.record_events",
}
MARKETING_STATE = {
    "people": "SELECT md5(string_agg(p::text, ',' ORDER BY id)) AS v FROM people p",
    "campaigns": "SELECT md5(string_agg(c::text, ',' ORDER BY id)) AS v FROM campaigns c",
}


def _state(sync_stack) -> dict[str, object]:
    state = {name: sync_stack.warehouse(query)[0]["v"] for name, query in WAREHOUSE_STATE.items()}
    state.update({name: sync_stack.marketing(query)[0]["v"] for name, query in MARKETING_STATE.items()})
    return state


def test_a_dry_run_over_invalid_records_writes_no_quarantine_and_counts_it(sync_stack, assert_balanced) -> None:
    tag = uuid.uuid4().hex[:12].upper()
    sync_stack.admin.plant("Lead", {"LastName": f"Dry {tag}", "Company": "Planted", "Email": f"dry-{tag}"})
    sync_stack.admin.plant("Campaign", {"Id": f"701{tag}", "Name": f"Dry {tag}"})  # a 15-character Id
    objects = ["Lead", "Campaign"]
    real = sync_stack.run_dag("crm_full_sync", objects=objects, mode="upsert", dry_run=False)
    assert real.state == DagRunState.SUCCESS, sync_stack.task_states(real)
    # Something changed since, so the dry run has more to report than a replay of the real run.
    sync_stack.admin.plant("Lead", {"LastName": f"Dry two {tag}", "Company": "Planted", "Email": f"dry-two-{tag}"})
    before = _state(sync_stack)
    assert before["quarantine"] is not None and before["people"] is not None

    dry = sync_stack.run_dag("crm_full_sync", objects=objects, mode="upsert", dry_run=True)
    assert dry.state == DagRunState.SUCCESS, sync_stack.task_states(dry)
    assert _state(sync_stack) == before
    runs = {r["object"]: r for r in sync_stack.warehouse(
        "SELECT * FROM crm_sync.sync_runs WHERE kind = 'full' AND dry_run ORDER BY run_id")}
    assert set(runs) == set(objects)
    for run in runs.values():
        assert run["status"] == "dry_run" and run["quarantined"] > 0
        assert_balanced(run)
    lead_real = sync_stack.warehouse("SELECT quarantined FROM crm_sync.sync_runs WHERE object = 'Lead'"
                                     " AND kind = 'full' AND NOT dry_run")[0]["quarantined"]
    assert runs["Lead"]["quarantined"] == lead_real + 1  # the new invalid Lead is counted, not written
    assert sync_stack.warehouse("SELECT count(*) AS n FROM crm_quarantine.records WHERE payload ->> 'LastName' = %s",
                                f"Dry two {tag}") == [{"n": 0}]
