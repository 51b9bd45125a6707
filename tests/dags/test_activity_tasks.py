"""Marketing activity becomes Salesforce Tasks: dag.test() of crm_writeback against PostgreSQL and
the emulator over HTTPS. Each write is run again to show it changes nothing the second time."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.utils.state import DagRunState

from crm_sync.context import RunContext
from tests.dags import test_writeback
from tests.dags.test_writeback import (
    assert_counted,
    contacts_only,
    edit,
    results,
    run_writeback,
    writeback_runs,
)

synced = test_writeback.synced  # the fixture: Contacts and Leads imported, the write-back queue settled

TASK_FIELDS = "Id, WhoId, Subject, ActivityDate, Status, TaskSubtype, Description, Marketing_Activity_Id__c"


def add_activity(stack, person_id: int, kind: str, *, at: str = "2030-03-04T10:00:00+00", subject: str | None = None,
                 campaign: str | None = None) -> int:
    """A row as the marketing app writes it; returns its id."""
    return edit(stack, "INSERT INTO marketing_activities (person_id, kind, occurred_at, subject, campaign)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id", person_id, kind, at, subject, campaign)[0][0]


def tasks_of(stack, who_ids: list[str]) -> list[dict[str, Any]]:
    """The Tasks Salesforce has on these Contacts/Leads from this marketing database's activity."""
    prefix = stack.marketing("SELECT prefix FROM marketing_activity_namespace")[0]["prefix"]
    quoted = ", ".join(f"'{i}'" for i in who_ids)
    return RunContext.load().salesforce().query_records(
        f"SELECT {TASK_FIELDS} FROM Task WHERE WhoId IN ({quoted}) AND Marketing_Activity_Id__c LIKE '{prefix}:%'"
        " ORDER BY Marketing_Activity_Id__c")


def task_run(stack, dag_run) -> dict[str, Any]:
    """The Task row of the write-back's sync log, checked to add up."""
    run = writeback_runs(stack, dag_run)["Task"]
    assert_counted(run)
    return run


def assert_nothing_written(stack, dag_run) -> None:
    """A run with no new activity: no records considered, not a single API call."""
    run = task_run(stack, dag_run)
    assert (run["status"], run["extracted"], run["created"], run["updated"], run["api_calls"]) == (
        "succeeded", 0, 0, 0, 0), run


def pending(stack) -> int:
    return stack.marketing("SELECT count(*) AS n FROM marketing_activities WHERE crm_written_at IS NULL")[0]["n"]


def lead_only(stack) -> dict[str, Any]:
    return stack.marketing("SELECT id, lead_sf_id FROM people WHERE lead_sf_id IS NOT NULL AND contact_sf_id IS NULL"
                           " AND archived_at IS NULL ORDER BY email LIMIT 1")[0]


def test_each_activity_becomes_one_task_on_the_contact_or_lead_and_a_rerun_adds_none(synced) -> None:
    contact, gone = contacts_only(synced, 2)
    both = synced.marketing("SELECT id, contact_sf_id FROM people WHERE lead_sf_id IS NOT NULL"
                            " AND contact_sf_id IS NOT NULL AND archived_at IS NULL ORDER BY email LIMIT 1")[0]
    lead = lead_only(synced)
    ids = [add_activity(synced, contact["id"], "email_send", subject="Spring offer", campaign="Spring 2030"),
           add_activity(synced, contact["id"], "email_open", subject="Spring offer", campaign="Spring 2030"),
           add_activity(synced, contact["id"], "email_click", subject="Spring offer"),
           add_activity(synced, lead["id"], "visit", subject="/pricing"),
           add_activity(synced, both["id"], "form_fill", subject="Demo request", at="2030-03-05T23:30:00+00")]
    rejected = add_activity(synced, gone["id"], "visit", subject="/careers")
    synced.admin.delete("Contact", gone["contact_sf_id"])  # deleted in Salesforce, not synced yet
    tasks_before = synced.admin.count("Task")
    try:
        first = run_writeback()
    finally:
        synced.admin.undelete("Contact", gone["contact_sf_id"])
    run = task_run(synced, first)
    assert (run["status"], run["extracted"], run["created"], run["updated"], run["failed"]) == (
        "succeeded", 6, 5, 0, 1), run
    assert run["api_calls"] > 0
    tasks = tasks_of(synced, [contact["contact_sf_id"], lead["lead_sf_id"], both["contact_sf_id"]])
    assert synced.admin.count("Task") == tasks_before + 5
    assert [(t["WhoId"], t["Subject"], t["ActivityDate"], t["Status"], t["TaskSubtype"]) for t in tasks] == [
        (contact["contact_sf_id"], "Email sent: Spring offer", "2030-03-04", "Completed", "Email"),
        (contact["contact_sf_id"], "Email opened: Spring offer", "2030-03-04", "Completed", "Email"),
        (contact["contact_sf_id"], "Email link clicked: Spring offer", "2030-03-04", "Completed", "Email"),
        (lead["lead_sf_id"], "Website visit: /pricing", "2030-03-04", "Completed", "Task"),
        (both["contact_sf_id"], "Form filled in: Demo request", "2030-03-05", "Completed", "Task")]
    assert "Campaign: Spring 2030" in tasks[0]["Description"]
    marked = {r["id"]: r for r in synced.marketing("SELECT id, crm_outcome, crm_sf_id FROM marketing_activities")}
    assert {marked[i]["crm_sf_id"] for i in ids} == {t["Id"] for t in tasks}
    assert {marked[i]["crm_outcome"] for i in ids} == {"written"}
    assert (marked[rejected]["crm_outcome"], marked[rejected]["crm_sf_id"]) == ("failed", None)
    failures = [r for r in results(synced, first) if r["object"] == "Task" and r["outcome"] == "failed"]
    assert [(r["marketing_table"], r["marketing_id"], r["reason"]) for r in failures] == [
        ("marketing_activities", rejected, "ENTITY_IS_DELETED")]
    # Again: nothing pending, nothing sent, no new Task (and the rejected one is not retried).
    assert_nothing_written(synced, run_writeback())
    assert synced.admin.count("Task") == tasks_before + 5 and pending(synced) == 0


def test_a_run_killed_after_the_bulk_job_and_retried_does_not_double_a_task(synced, monkeypatch) -> None:
    from crm_sync.activity import write as activity_write

    person = contacts_only(synced, 1)[0]
    for kind in ("email_open", "visit"):
        add_activity(synced, person["id"], kind, subject="Webinar")

    def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed before the bookkeeping")

    with monkeypatch.context() as patch:
        patch.setattr(activity_write, "mark_written", killed)
        crashed = synced.run_dag("crm_writeback")
    assert crashed.state == DagRunState.FAILED
    assert synced.task_states(crashed)["activity"] == "failed"
    written = tasks_of(synced, [person["contact_sf_id"]])
    assert len(written) == 2 and pending(synced) == 2  # in Salesforce, not yet marked
    tasks_before = synced.admin.count("Task")
    retried = run_writeback()
    run = task_run(synced, retried)
    assert (run["extracted"], run["created"], run["updated"], run["failed"]) == (2, 0, 2, 0), run
    assert [t["Id"] for t in tasks_of(synced, [person["contact_sf_id"]])] == [t["Id"] for t in written]
    assert synced.admin.count("Task") == tasks_before and pending(synced) == 0
    assert_nothing_written(synced, run_writeback())


def test_daily_summary_keeps_one_task_per_person_and_day_up_to_date(synced, tmp_path, monkeypatch) -> None:
    config = tmp_path / "activity.yaml"
    config.write_text("mode: daily_summary\n", encoding="utf-8")
    monkeypatch.setenv("CRM_ACTIVITY_FILE", str(config))
    alice, bob = contacts_only(synced, 2)
    for kind, at in (("email_open", "2030-03-04T09:00:00+00"), ("email_open", "2030-03-04T11:00:00+00"),
                     ("visit", "2030-03-03T15:00:00+00")):
        add_activity(synced, alice["id"], kind, at=at, subject="Launch")
    add_activity(synced, bob["id"], "email_click", at="2030-03-04T12:00:00+00", subject="Launch")
    run = task_run(synced, run_writeback())
    assert (run["extracted"], run["created"], run["updated"], run["failed"]) == (3, 3, 0, 0), run
    first = {(t["WhoId"], t["ActivityDate"]): t for t in tasks_of(synced, [alice["contact_sf_id"], bob["contact_sf_id"]])}
    assert {k: t["Subject"] for k, t in first.items()} == {
        (alice["contact_sf_id"], "2030-03-03"): "Marketing activity 2030-03-03: 1 visit",
        (alice["contact_sf_id"], "2030-03-04"): "Marketing activity 2030-03-04: 2 email opens",
        (bob["contact_sf_id"], "2030-03-04"): "Marketing activity 2030-03-04: 1 email click"}
    assert_nothing_written(synced, run_writeback())
    # The day goes on: the same Task is updated in place, no second one.
    add_activity(synced, alice["id"], "email_click", at="2030-03-04T13:00:00+00", subject="Launch")
    grown = task_run(synced, run_writeback())
    assert (grown["extracted"], grown["created"], grown["updated"]) == (1, 0, 1), grown
    after = {(t["WhoId"], t["ActivityDate"]): t for t in tasks_of(synced, [alice["contact_sf_id"], bob["contact_sf_id"]])}
    today = after[(alice["contact_sf_id"], "2030-03-04")]
    assert set(after) == set(first) and today["Id"] == first[(alice["contact_sf_id"], "2030-03-04")]["Id"]
    assert today["Subject"] == "Marketing activity 2030-03-04: 2 email opens, 1 email click"
    assert "13:00 Email link clicked: Launch" in today["Description"]
    assert_nothing_written(synced, run_writeback())


def test_activity_of_a_person_without_a_lead_or_contact_waits_until_linked(synced) -> None:
    stamp = int(time.time() * 1000)
    person = edit(synced, "INSERT INTO people (email, first_name, last_name) VALUES (%s, 'Wait', 'Ing')"
                  " RETURNING id", f"waiting.{stamp}@@example")[0][0]  # Salesforce refuses to create this Lead
    activity = add_activity(synced, person, "form_fill", subject="Newsletter sign-up")
    for attempt in range(2):
        dag_run = run_writeback()
        lead_run = writeback_runs(synced, dag_run)["Lead"]
        assert (lead_run["extracted"], lead_run["failed"]) == ((1, 1) if attempt == 0 else (0, 0)), lead_run
        run = task_run(synced, dag_run)
        assert (run["extracted"], run["created"], run["skipped"], run["api_calls"]) == (1, 0, 1, 0), run
        assert run["skipped_reasons"] == {"waiting_for_salesforce_record": 1}
        assert pending(synced) == 1
    # Fixed in marketing: the write-back creates the Lead, links it, and then writes the activity.
    edit(synced, "UPDATE people SET email = %s WHERE id = %s", f"waiting.{stamp}@example.org", person)
    linked = run_writeback()
    lead_id = synced.marketing("SELECT lead_sf_id FROM people WHERE id = %s", person)[0]["lead_sf_id"]
    assert lead_id and writeback_runs(synced, linked)["Lead"]["created"] == 1
    run = task_run(synced, linked)
    assert (run["extracted"], run["created"], run["skipped"]) == (1, 1, 0), run
    [task] = tasks_of(synced, [lead_id])
    assert task["Subject"] == "Form filled in: Newsletter sign-up" and task["Marketing_Activity_Id__c"].endswith(
        f":event:{activity}")
    assert_nothing_written(synced, run_writeback())


@pytest.mark.parametrize("text, problem", [("mode: hourly\n", "mode"), ("timezone: Mars/Olympus\n", "time zone")])
def test_a_broken_activity_file_is_named_with_its_problem(tmp_path, text: str, problem: str) -> None:
    from crm_sync.activity.config import ActivityConfigError, load_activity_config

    path = tmp_path / "activity.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ActivityConfigError, match=problem) as caught:
        load_activity_config(path)
    assert str(caught.value).startswith("activity.yaml:")




def test_the_api_budget_stops_the_activity_write_and_the_next_run_carries_on(synced, monkeypatch) -> None:
    monkeypatch.setenv("CRM_ACTIVITY_BATCH_SIZE", "2")  # one job per two activities
    person = contacts_only(synced, 1, offset=3)[0]
    for n in range(5):
        add_activity(synced, person["id"], "email_open", subject=f"Issue {n}")
    usage = synced.admin.stats()["api_usage"]
    # 24 calls left today: the default share (50%) allows 12, enough for login, describe and
    # one job, not for two.
    synced.admin.set_api_usage(usage["max"] - 24)
    stopped = task_run(synced, run_writeback())
    assert (stopped["status"], stopped["created"], stopped["skipped_reasons"]) == (
        "budget_stopped", 2, {"deferred_api_budget": 2}), stopped
    assert "API budget" in stopped["error"] and stopped["api_calls"] <= 12
    assert len(tasks_of(synced, [person["contact_sf_id"]])) == 2 and pending(synced) == 3
    synced.admin.set_api_usage(usage["used"])
    carried = task_run(synced, run_writeback())
    assert (carried["status"], carried["created"], carried["updated"]) == ("succeeded", 3, 0), carried
    assert len(tasks_of(synced, [person["contact_sf_id"]])) == 5 and pending(synced) == 0


def test_the_demos_simulated_activity_and_the_showcase_write_their_tasks_once(synced, capsys) -> None:
    import psycopg

    from devstack.showcase_activity import show
    from devstack.simulate import simulate_marketing_activity

    with psycopg.connect(synced.databases.marketing) as conn:
        made = simulate_marketing_activity(conn, seed=7)
    rows = made["activities (visits, emails, forms)"]
    run = task_run(synced, run_writeback())
    # Every activity is written but the broken-email person's form fill: its Lead was refused.
    assert (run["extracted"], run["created"], run["failed"]) == (rows, rows - 1, 0), run
    assert run["skipped_reasons"] == {"waiting_for_salesforce_record": 1}
    show(synced.admin)
    out = capsys.readouterr().out
    assert out.count("new Tasks in Salesforce:") == 2, out
    assert "new Tasks in Salesforce: 4" in out and "new Tasks in Salesforce: 0" in out, out
    assert "Email link clicked: Spring offer" in out, out


CUSTOM_OBJECT = """\
object: Marketing_Activity__c
external_id: Activity_Key__c
who: {Contact: Contact__c, Lead: Lead__c}
fields: {subject: Name, occurred_at: Occurred_At__c, kind: Kind__c, description: Details__c}
values: {}
"""


def test_activity_can_go_to_a_custom_object_with_its_own_lookups(synced, tmp_path, monkeypatch) -> None:
    config = tmp_path / "activity.yaml"
    config.write_text(CUSTOM_OBJECT, encoding="utf-8")  # the example in docs/mappings.md
    monkeypatch.setenv("CRM_ACTIVITY_FILE", str(config))
    (contact,) = contacts_only(synced, 1)
    lead = lead_only(synced)
    add_activity(synced, contact["id"], "email_open", at="2030-03-04T10:00:00+00", subject="Launch")
    add_activity(synced, lead["id"], "visit", at="2030-03-04T11:30:00+00", subject="/pricing")
    tasks_before = synced.admin.count("Task")
    dag_run = run_writeback()
    run = writeback_runs(synced, dag_run)["Marketing_Activity__c"]
    assert_counted(run)
    assert (run["status"], run["extracted"], run["created"], run["failed"]) == ("succeeded", 2, 2, 0), run
    prefix = synced.marketing("SELECT prefix FROM marketing_activity_namespace")[0]["prefix"]
    records = RunContext.load().salesforce().query_records(
        "SELECT Name, Contact__c, Lead__c, Occurred_At__c, Kind__c, Activity_Key__c FROM Marketing_Activity__c"
        f" WHERE Activity_Key__c LIKE '{prefix}:%' ORDER BY Occurred_At__c")
    assert [(r["Contact__c"], r["Lead__c"], r["Kind__c"], r["Occurred_At__c"][:16]) for r in records] == [
        (contact["contact_sf_id"], None, "email_open", "2030-03-04T10:00"),
        (None, lead["lead_sf_id"], "visit", "2030-03-04T11:30")]
    assert all(r["Name"] for r in records)
    assert synced.admin.count("Task") == tasks_before  # nothing went to Task
    again = writeback_runs(synced, run_writeback())["Marketing_Activity__c"]
    assert (again["extracted"], again["created"], again["updated"], again["api_calls"]) == (0, 0, 0, 0), again
