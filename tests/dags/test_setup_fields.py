"""`to_crm` fields the org lacks: the syncs say so and go on; the set-up command creates them
through the Tooling API, their values are written, and a second run creates nothing.

dag.test() of the differentials and crm_writeback, and `python -m crm_sync.setup_fields`,
against PostgreSQL and the emulator over HTTPS. The touch fields are not in the emulator's
default org; this test creates them (the emulator keeps them for the rest of the session)."""

from __future__ import annotations

from typing import Any

from crm_sync.context import RunContext
from crm_sync.setup_fields import main, setup_fields
from tests.dags.test_writeback import (  # noqa: F401  (synced is a fixture)
    contacts_only,
    edit,
    results,
    run_differentials,
    run_writeback,
    synced,
    writeback_runs,
)

TOUCH = ("First_Touch_Channel__c", "First_Touch_Source__c", "Last_Touch_Channel__c", "Last_Touch_Source__c",
         "Last_Activity_At__c")
MISSING = sorted(f"{o}.{f}" for o in ("Contact", "Lead") for f in TOUCH)


def _tooling_calls(stack) -> int:
    return int(stack.admin.stats()["by_kind"].get("tooling_create", 0))


def _reported(run: dict[str, Any]) -> dict[str, Any] | None:
    return (run["report"] or {}).get("missing_to_crm_fields")


def test_missing_fields_are_reported_then_created_by_the_setup_command(synced, capsys) -> None:  # noqa: F811
    assert sorted(setup_fields(RunContext.load(), dry_run=True)["missing"]) == MISSING
    assert main(["--dry-run"]) == 0
    assert "Would create: Contact.First_Touch_Channel__c" in capsys.readouterr().out

    # The inbound sync runs on, and says which fields are missing and how to create them.
    for object_name, run in run_differentials(synced).items():
        reported = _reported(run)
        assert run["status"] == "succeeded" and reported is not None, (object_name, run)
        assert reported["fields"] == sorted(TOUCH)
        assert f"{object_name.lower()}.yaml" in reported["fix"] and "python -m crm_sync.setup_fields" in reported["fix"]

    # The write-back writes what exists (the score) and reports the rest.
    [person] = contacts_only(synced, 1, offset=80)
    edit(synced, "UPDATE people SET lead_score = 77, first_touch_channel = 'email', first_touch_source = 'newsletter',"
         " last_touch_channel = 'web', last_touch_source = 'pricing page', last_activity_at = '2030-02-03T04:05:06Z'"
         " WHERE id = %s", person["id"])
    dag_run = run_writeback()
    run = writeback_runs(synced, dag_run)["Contact"]
    assert (run["status"], run["updated"], _reported(run)["fields"]) == ("succeeded", 1, sorted(TOUCH))
    [result] = results(synced, dag_run)
    assert result["written"] == ["Lead_Score__c"]
    record = synced.admin.get("Contact", person["contact_sf_id"])
    assert record["Lead_Score__c"] == 77 and "First_Touch_Channel__c" not in record

    # The set-up command creates the ten fields through the Tooling API and queues the values.
    calls = _tooling_calls(synced)
    assert main([]) == 0
    assert "Created: Contact.First_Touch_Channel__c" in capsys.readouterr().out
    assert _tooling_calls(synced) - calls == len(MISSING)
    assert synced.marketing("SELECT fields FROM crm_outbox WHERE row_id = %s", person["id"]) == [
        {"fields": ["first_touch_channel", "first_touch_source", "last_activity_at", "last_touch_channel",
                    "last_touch_source"]}]
    described = RunContext.load().salesforce().describe_fields("Lead")
    assert (described["first_touch_channel__c"].type, described["first_touch_channel__c"].length) == ("string", 80)
    assert described["last_activity_at__c"].type == "datetime"

    # A second run finds nothing missing: no Tooling call, nothing queued.
    again = setup_fields(RunContext.load())
    assert again == {"missing": [], "created": [], "existed": [], "queued": 0}
    assert _tooling_calls(synced) - calls == len(MISSING)

    # The next write-back writes the values; then a whole cycle changes nothing.
    dag_run = run_writeback()
    [result] = results(synced, dag_run)
    assert result["outcome"] == "updated" and result["written"] == sorted(TOUCH)
    record = synced.admin.get("Contact", person["contact_sf_id"])
    assert (record["First_Touch_Channel__c"], record["First_Touch_Source__c"], record["Last_Touch_Channel__c"],
            record["Last_Touch_Source__c"]) == ("email", "newsletter", "web", "pricing page")
    assert record["Last_Activity_At__c"].startswith("2030-02-03T04:05:06")
    assert _reported(writeback_runs(synced, dag_run)["Contact"]) is None
    for cycle in (1, 2):
        for object_name, run in run_differentials(synced).items():
            assert (run["created"], run["updated"], run["archived"]) == (0, 0, 0), (cycle, object_name, run)
            assert _reported(run) is None
        for object_name, run in writeback_runs(synced, run_writeback()).items():
            assert (run["extracted"], run["updated"], run["api_calls"]) == (0, 0, 0), (cycle, object_name, run)
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
