"""A load never replaces a row with an older version of the record: a late differential (its
staging holds an older SystemModstamp) that publishes after a full sync changes nothing."""

from __future__ import annotations

from airflow.utils.state import DagRunState

from crm_sync.context import RunContext
from crm_sync.extract import extract_records
from crm_sync.prepare import prepare_object
from crm_sync.publish import publish


def test_a_late_load_of_an_older_version_keeps_the_newer_row(sync_stack, assert_balanced) -> None:
    assert sync_stack.run_dag("crm_differential_contact").state == DagRunState.SUCCESS
    target = sync_stack.marketing("SELECT contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                                  " AND archived_at IS NULL ORDER BY email LIMIT 1")[0]["contact_sf_id"]
    ctx = RunContext.load()
    prepare_object(ctx, "Contact")
    # The late run stages the record as it is now (the older version)...
    late = extract_records(ctx, "Contact", [target])
    # ...then the record changes and a full sync loads the newer version first.
    sync_stack.admin.update("Contact", target, {"Title": "Newer title"})
    full = sync_stack.run_dag("crm_full_sync", objects=["Contact"], mode="upsert", dry_run=False)
    assert full.state == DagRunState.SUCCESS, sync_stack.task_states(full)
    newer = sync_stack.marketing("SELECT title, contact_sf_system_modstamp FROM people WHERE contact_sf_id = %s",
                                 target)[0]
    assert newer["title"] == "Newer title"

    final = publish(ctx, late)
    assert final.status.value == "succeeded"
    assert (final.extracted, final.skipped, final.skipped_reasons) == (1, 1, {"older_version": 1})
    assert_balanced(sync_stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE run_id = %s", late)[0])
    assert sync_stack.marketing("SELECT title, contact_sf_system_modstamp FROM people WHERE contact_sf_id = %s",
                                target) == [newer]
    # What the sync remembers of the record stays the newer version.
    synced = sync_stack.warehouse("SELECT system_modstamp FROM crm_sync.synced_records WHERE sf_id = %s", target)
    assert synced == [{"system_modstamp": newer["contact_sf_system_modstamp"]}]
