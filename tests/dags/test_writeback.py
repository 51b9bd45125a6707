"""The write-back end to end: dag.test() of crm_writeback (and of the differentials) against
PostgreSQL, the emulator over HTTPS and Great Expectations, with fresh warehouse and
marketing databases per test. The emulator is shared: tests touch only records they pick
or create, and read Salesforce through the emulator's admin API (never counted, never faulted)."""

from __future__ import annotations

import importlib
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from airflow.utils.state import DagRunState

from crm_sync.paths import INCLUDE_DIR, PROJECT_ROOT

DIFFERENTIALS = ("crm_differential_contact", "crm_differential_lead")


def run_writeback() -> Any:
    """`dag.test()` of crm_writeback; returns the DagRun."""
    import crm_writeback

    dag_run = importlib.reload(crm_writeback).crm_writeback.test()
    assert dag_run.state == DagRunState.SUCCESS
    return dag_run


def run_differentials(stack) -> dict[str, dict[str, Any]]:
    """Contact and Lead differentials; returns their sync log rows by object."""
    for dag_id in DIFFERENTIALS:
        assert stack.run_dag(dag_id).state == DagRunState.SUCCESS, dag_id
    return {o: stack.last_run(o) for o in ("Contact", "Lead")}


def edit(stack, query: str, *params: Any) -> list[tuple]:
    """A marketing-side edit, as a marketing app makes it (no sync origin), committed."""
    with psycopg.connect(stack.databases.marketing) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def writeback_runs(stack, dag_run) -> dict[str, dict[str, Any]]:
    """The write-back's sync log rows of one DAG run, by object."""
    rows = stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE kind = 'writeback' AND dag_run_id = %s",
                           dag_run.run_id)
    return {r["object"]: r for r in rows}


def results(stack, dag_run) -> list[dict[str, Any]]:
    """Per-record results of one write-back DAG run."""
    return stack.warehouse(
        "SELECT r.* FROM crm_sync.writeback_results r JOIN crm_sync.sync_runs s USING (run_id)"
        " WHERE s.dag_run_id = %s ORDER BY r.result_id", dag_run.run_id)


def contacts_only(stack, n: int, offset: int = 0) -> list[dict[str, Any]]:
    """People linked to a Contact and no Lead (one record each to write)."""
    return stack.marketing(
        "SELECT id, email, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL AND lead_sf_id IS NULL"
        " AND archived_at IS NULL ORDER BY email LIMIT %s OFFSET %s", n, offset)


def assert_counted(run: dict[str, Any]) -> None:
    """Every change the write-back read is accounted for exactly once."""
    assert run["extracted"] == (run["created"] + run["updated"] + run["unchanged"] + run["skipped"]
                                + run["failed"]), run
    assert run["skipped"] == sum(run["skipped_reasons"].values()), run


@pytest.fixture
def synced(sync_stack, monkeypatch) -> Iterator[Any]:
    """The stack with Contacts and Leads imported; faults and API usage restored afterwards."""
    monkeypatch.setenv("CRM_SYNC_API_RETRY_SECONDS", "0.01")
    run_differentials(sync_stack)
    # The demo org has people whose Lead and Contact disagree on the opt-out or the hard
    # bounce: the import queued them (both are sticky: they reach every record). Settle that
    # first, so each test starts with an empty queue.
    settled = results(sync_stack, run_writeback())
    sticky = {"HasOptedOutOfEmail", "EmailBouncedDate", "EmailBouncedReason"}
    assert {f for r in settled for f in r["written"]} <= sticky, settled
    assert sync_stack.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    usage = sync_stack.admin.stats()["api_usage"]
    yield sync_stack
    sync_stack.admin.clear_faults()
    sync_stack.admin.set_api_usage(max(usage["used"], sync_stack.admin.stats()["api_usage"]["used"]))


def test_scores_and_last_visits_reach_salesforce(synced) -> None:
    people = contacts_only(synced, 3)
    for n, person in enumerate(people):
        edit(synced, "UPDATE people SET lead_score = %s, last_visit_at = '2030-01-02T03:04:05.678+00'"
             " WHERE id = %s", 70 + n, person["id"])
    dag_run = run_writeback()
    for n, person in enumerate(people):
        record = synced.admin.get("Contact", person["contact_sf_id"])
        assert record["Lead_Score__c"] == 70 + n
        assert record["Last_Visit__c"].startswith("2030-01-02T03:04:05.678")
    run = writeback_runs(synced, dag_run)["Contact"]
    assert_counted(run)
    assert (run["status"], run["extracted"], run["updated"], run["failed"]) == ("succeeded", 3, 3, 0)
    assert run["api_calls"] > 0 and run["watermark_after"] == run["window_end"]
    rows = results(synced, dag_run)
    assert {(r["sf_id"], r["outcome"], tuple(r["written"])) for r in rows} == {
        (p["contact_sf_id"], "updated", ("Last_Visit__c", "Lead_Score__c")) for p in people}
    assert all(r["job_ids"] and r["attempts"] == 1 for r in rows)
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]
    # A marketing-only column is none of Salesforce's business: not even a login.
    edit(synced, "ALTER TABLE people ADD COLUMN segment text")
    edit(synced, "UPDATE people SET segment = 'vip' WHERE id = ANY(%s)", [p["id"] for p in people])
    quiet = writeback_runs(synced, run_writeback())["Contact"]
    assert (quiet["extracted"], quiet["api_calls"]) == (0, 0)
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_unsubscribe_on_either_side_ends_unsubscribed_on_both(synced) -> None:
    in_marketing, in_salesforce = contacts_only(synced, 2, offset=10)
    # Marketing side: the person unsubscribes from an email.
    edit(synced, "UPDATE people SET unsubscribed = true WHERE id = %s", in_marketing["id"])
    # Salesforce side: a sales rep records an opt-out.
    synced.admin.update("Contact", in_salesforce["contact_sf_id"], {"HasOptedOutOfEmail": True})
    time.sleep(0.05)
    run_differentials(synced)
    run_writeback()
    for person in (in_marketing, in_salesforce):
        assert synced.admin.get("Contact", person["contact_sf_id"])["HasOptedOutOfEmail"] is True
        assert synced.marketing("SELECT unsubscribed FROM people WHERE id = %s", person["id"]) == [
            {"unsubscribed": True}]
    # An opt-out sticks: a marketing-side "resubscribe" is not written, and true comes back.
    edit(synced, "UPDATE people SET unsubscribed = false WHERE id = %s", in_salesforce["id"])
    dag_run = run_writeback()
    assert synced.admin.get("Contact", in_salesforce["contact_sf_id"])["HasOptedOutOfEmail"] is True
    assert synced.marketing("SELECT unsubscribed FROM people WHERE id = %s", in_salesforce["id"]) == [
        {"unsubscribed": True}]
    [row] = results(synced, dag_run)
    assert (row["outcome"], row["reason"], row["restored"], row["written"]) == (
        "skipped", "restored_from_salesforce", ["unsubscribed"], [])


CONFLICT_RULES = {
    "  - {source: Title, target: title, transform: trim, max_length: 100}":
        "  - {source: Title, target: title, transform: trim, max_length: 100, direction: both, conflict: latest_wins}",
    "  - {source: Phone, target: phone, transform: trim, max_length: 40}":
        "  - {source: Phone, target: phone, transform: trim, max_length: 40, direction: both, conflict: crm_wins}",
}


@pytest.fixture
def conflict_mappings(tmp_path, monkeypatch) -> None:
    """Contact's Title owned by both sides with latest_wins, Phone with crm_wins."""
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    contact = mappings / "contact.yaml"
    text = contact.read_text()
    for old, new in CONFLICT_RULES.items():
        assert old in text
        text = text.replace(old, new)
    contact.write_text(text)
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))


def test_a_conflict_on_a_both_field_resolves_by_its_rule(conflict_mappings, synced) -> None:
    marketing_later, salesforce_later, only_marketing, crm_wins = contacts_only(synced, 4, offset=20)

    def title(person):
        return (synced.admin.get("Contact", person["contact_sf_id"])["Title"],
                synced.marketing("SELECT title FROM people WHERE id = %s", person["id"])[0]["title"])

    synced.admin.update("Contact", marketing_later["contact_sf_id"], {"Title": "Set in Salesforce first"})
    edit(synced, "UPDATE people SET title = 'Set in marketing first' WHERE id = %s", salesforce_later["id"])
    # Marketing edits the title; Salesforce changes another field of the same record afterwards.
    edit(synced, "UPDATE people SET title = 'Only marketing changed it' WHERE id = %s", only_marketing["id"])
    time.sleep(0.05)
    edit(synced, "UPDATE people SET title = 'Set in marketing later' WHERE id = %s", marketing_later["id"])
    synced.admin.update("Contact", salesforce_later["contact_sf_id"], {"Title": "Set in Salesforce later"})
    synced.admin.update("Contact", only_marketing["contact_sf_id"], {"FirstName": "Renamed"})
    # crm_wins, both sides changed the phone; the write-back runs before any differential.
    edit(synced, "UPDATE people SET phone = '+1 555 0100' WHERE id = %s", crm_wins["id"])
    synced.admin.update("Contact", crm_wins["contact_sf_id"], {"Phone": "+1 555 0199"})
    dag_run = run_writeback()
    phone = synced.admin.get("Contact", crm_wins["contact_sf_id"])["Phone"]
    assert phone == "+1 555 0199"
    assert synced.marketing("SELECT phone FROM people WHERE id = %s", crm_wins["id"]) == [{"phone": phone}]
    conflicts = {r["sf_id"]: r["conflicts"] for r in results(synced, dag_run)}
    assert conflicts[crm_wins["contact_sf_id"]] == {"phone": "crm_wins: both sides changed it; Salesforce's value stays"}
    assert conflicts[marketing_later["contact_sf_id"]] == {"title": "latest_wins: the marketing change is newer"}
    assert conflicts[salesforce_later["contact_sf_id"]] == {"title": "latest_wins: the Salesforce change is newer"}
    assert conflicts[only_marketing["contact_sf_id"]] == {}  # Salesforce left the title alone: no conflict

    run_differentials(synced)
    assert title(marketing_later) == ("Set in marketing later",) * 2
    assert title(salesforce_later) == ("Set in Salesforce later",) * 2
    assert title(only_marketing) == ("Only marketing changed it",) * 2


def test_latest_wins_inbound_keeps_a_newer_marketing_edit(conflict_mappings, synced) -> None:
    marketing_later, salesforce_later, untouched = contacts_only(synced, 3, offset=30)
    synced.admin.update("Contact", marketing_later["contact_sf_id"], {"Title": "Salesforce, earlier"})
    edit(synced, "UPDATE people SET title = 'Marketing, earlier' WHERE id = %s", salesforce_later["id"])
    edit(synced, "UPDATE people SET title = 'Marketing, alone' WHERE id = %s", untouched["id"])
    time.sleep(0.05)
    edit(synced, "UPDATE people SET title = 'Marketing, later' WHERE id = %s", marketing_later["id"])
    synced.admin.update("Contact", salesforce_later["contact_sf_id"], {"Title": "Salesforce, later"})
    synced.admin.update("Contact", untouched["contact_sf_id"], {"FirstName": "Touched"})
    time.sleep(0.05)
    run_differentials(synced)  # the differential sees the conflicts before the write-back
    titles = {r["id"]: r["title"] for r in synced.marketing(
        "SELECT id, title FROM people WHERE id = ANY(%s)", [marketing_later["id"], salesforce_later["id"],
                                                            untouched["id"]])}
    assert titles == {marketing_later["id"]: "Marketing, later", salesforce_later["id"]: "Salesforce, later",
                      untouched["id"]: "Marketing, alone"}
    run_writeback()
    assert synced.admin.get("Contact", marketing_later["contact_sf_id"])["Title"] == "Marketing, later"
    assert synced.admin.get("Contact", salesforce_later["contact_sf_id"])["Title"] == "Salesforce, later"
    assert synced.admin.get("Contact", untouched["contact_sf_id"])["Title"] == "Marketing, alone"


def test_a_new_marketing_person_becomes_a_lead_and_links_back(synced) -> None:
    stamp = int(time.time() * 1000)
    form = f"form.{stamp}@example.org"
    bare = f"bare.{stamp}@example.org"
    edit(synced, "INSERT INTO people (email, first_name, last_name, company, lead_score, unsubscribed)"
         " VALUES (%s, 'Ada', 'Lovelace', 'Analytical Engines', 55, true)", form)
    edit(synced, "INSERT INTO people (email) VALUES (%s)", bare)
    dag_run = run_writeback()
    run = writeback_runs(synced, dag_run)["Lead"]
    assert_counted(run)
    assert (run["created"], run["failed"]) == (2, 0)
    people = {r["email"]: r for r in synced.marketing("SELECT * FROM people WHERE email = ANY(%s)", [form, bare])}
    ada = synced.admin.get("Lead", people[form]["lead_sf_id"])
    assert (ada["Email"], ada["FirstName"], ada["LastName"], ada["Company"], ada["Lead_Score__c"],
            ada["HasOptedOutOfEmail"]) == (form, "Ada", "Lovelace", "Analytical Engines", 55, True)
    nameless = synced.admin.get("Lead", people[bare]["lead_sf_id"])
    assert (nameless["LastName"], nameless["Company"]) == (f"bare.{stamp}", "[not provided]")
    # Linked back, and carrying what Salesforce filled in (owner, status).
    for person in people.values():
        assert person["sf_object"] == "Lead" and person["contact_sf_id"] is None
        assert person["owner_sf_id"] and person["lead_stage"], person
    assert people[bare]["last_name"] == f"bare.{stamp}" and people[bare]["company"] == "[not provided]"
    # Nothing echoes: the next differential changes nothing, the next write-back writes nothing.
    lead_run = run_differentials(synced)["Lead"]
    assert (lead_run["created"], lead_run["updated"], lead_run["archived"]) == (0, 0, 0)
    again = writeback_runs(synced, run_writeback())["Lead"]
    assert (again["extracted"], again["created"], again["api_calls"]) == (0, 0, 0)


def test_a_person_salesforce_already_has_is_linked_not_created_again(synced) -> None:
    email = f"known.{int(time.time() * 1000)}@example.org"
    lead_id = synced.admin.insert("Lead", {"LastName": "Known", "Company": "Acme", "Email": email})
    edit(synced, "INSERT INTO people (email, lead_score) VALUES (%s, 12)", email)
    dag_run = run_writeback()
    [row] = results(synced, dag_run)
    assert (row["object"], row["sf_id"], row["outcome"], row["operation"]) == ("Lead", lead_id, "updated", "update")
    assert synced.admin.get("Lead", lead_id)["Lead_Score__c"] == 12
    person = synced.marketing("SELECT lead_sf_id, last_name, company FROM people WHERE email = %s", email)
    assert person == [{"lead_sf_id": lead_id, "last_name": "Known", "company": "Acme"}]


def test_a_record_salesforce_rejects_is_reported_and_the_rest_land(synced) -> None:
    good, too_big, also_good = contacts_only(synced, 3, offset=40)
    edit(synced, "UPDATE people SET lead_score = 11 WHERE id = %s", good["id"])
    edit(synced, "UPDATE people SET lead_score = 1e20 WHERE id = %s", too_big["id"])
    edit(synced, "UPDATE people SET lead_score = 13 WHERE id = %s", also_good["id"])
    bad_email = f"not-an-email.{int(time.time() * 1000)}@@example"
    edit(synced, "INSERT INTO people (email, last_name) VALUES (%s, 'Broken')", bad_email)
    dag_run = run_writeback()
    assert synced.admin.get("Contact", good["contact_sf_id"])["Lead_Score__c"] == 11
    assert synced.admin.get("Contact", also_good["contact_sf_id"])["Lead_Score__c"] == 13
    runs = writeback_runs(synced, dag_run)
    assert (runs["Contact"]["updated"], runs["Contact"]["failed"]) == (2, 1)
    assert (runs["Lead"]["created"], runs["Lead"]["failed"]) == (0, 1)
    for run in runs.values():
        assert_counted(run)
        assert run["status"] == "succeeded"
    failed = {r["object"]: r for r in results(synced, dag_run) if r["outcome"] == "failed"}
    assert failed["Contact"]["sf_id"] == too_big["contact_sf_id"]
    assert failed["Contact"]["reason"] == "NUMBER_OUTSIDE_VALID_RANGE" and "Lead Score" in failed["Contact"]["error"]
    assert failed["Lead"]["reason"] == "INVALID_EMAIL_ADDRESS" and failed["Lead"]["sf_id"] is None
    assert synced.marketing("SELECT lead_sf_id FROM people WHERE email = %s", bad_email) == [{"lead_sf_id": None}]
    # A permanent failure is reported once, not retried forever.
    again = writeback_runs(synced, run_writeback())
    assert again["Contact"]["extracted"] == again["Lead"]["extracted"] == 0


def test_injected_transient_failures_are_retried_and_land(synced) -> None:
    people = contacts_only(synced, 6, offset=50)
    for n, person in enumerate(people):
        edit(synced, "UPDATE people SET lead_score = %s WHERE id = %s", 300 + n, person["id"])
    before = synced.admin.stats()
    # Sessions expire every 0.3 s (requests take 50 ms), so Bulk API calls meet expired
    # sessions mid-job; 503s hit random calls; two rows are locked; one job fails half-way.
    synced.admin.set_faults(seed=3, latency_ms=50, session_ttl_s=0.3, error_rate=0.15, error_status=503,
                            lock_next=2, bulk_fail_next=1)
    dag_run = run_writeback()
    synced.admin.clear_faults()
    after = synced.admin.stats()
    injected = {k: after["faults_injected"].get(k, 0) - before["faults_injected"].get(k, 0)
                for k in ("server_error", "unable_to_lock_row", "failed_bulk_job")}
    assert all(n >= 1 for n in injected.values()), injected
    assert after["by_kind"]["login"] - before["by_kind"].get("login", 0) >= 3  # logged in again mid-run
    for n, person in enumerate(people):
        assert synced.admin.get("Contact", person["contact_sf_id"])["Lead_Score__c"] == 300 + n
    run = writeback_runs(synced, dag_run)["Contact"]
    assert_counted(run)
    assert (run["updated"], run["failed"], run["status"]) == (6, 0, "succeeded")
    assert run["retried"] >= 2
    assert sum(r["attempts"] > 1 for r in results(synced, dag_run)) == run["retried"]


def test_overlapping_chunks_write_every_change_once_and_count_every_call(synced, monkeypatch) -> None:
    # Chunks of three: each chunk's jobs run while the next is planned (its look-up by email
    # waits for them) and the one before is saved.
    monkeypatch.setenv("CRM_WRITEBACK_BATCH_SIZE", "3")
    people = contacts_only(synced, 12, offset=90)
    stamp = int(time.time() * 1000)
    new = [f"chunked.{stamp}.{n}@example.org" for n in range(6)]
    for n, email in enumerate(new):  # two score edits and one new person per chunk
        for person in people[2 * n:2 * n + 2]:
            edit(synced, "UPDATE people SET lead_score = %s WHERE id = %s", 700 + person["id"] % 97, person["id"])
        edit(synced, "INSERT INTO people (email, lead_score) VALUES (%s, %s)", email, n)
    synced.admin.reset_stats()
    dag_run = run_writeback()
    emulator_calls = synced.admin.stats()["api_calls"]
    runs = writeback_runs(synced, dag_run)
    assert (runs["Contact"]["extracted"], runs["Contact"]["updated"]) == (12, 12)
    assert (runs["Lead"]["extracted"], runs["Lead"]["created"]) == (6, 6)
    for run in runs.values():
        assert_counted(run)
        assert run["status"] == "succeeded"
    # Every call is counted once, by the object it was made for, whichever thread made it.
    logged = synced.warehouse("SELECT COALESCE(sum(api_calls), 0) AS n FROM crm_sync.sync_runs WHERE dag_run_id = %s",
                              dag_run.run_id)
    assert logged == [{"n": emulator_calls}]
    rows = results(synced, dag_run)
    assert sorted((r["object"], r["outcome"]) for r in rows) == [("Contact", "updated")] * 12 + [("Lead", "created")] * 6
    assert len({(r["marketing_table"], r["marketing_id"]) for r in rows}) == 18
    assert len({job for r in rows for job in r["job_ids"]}) == 12  # six chunks, two jobs each
    for person in people:
        assert synced.admin.get("Contact", person["contact_sf_id"])["Lead_Score__c"] == 700 + person["id"] % 97
    linked = synced.marketing("SELECT email, lead_score, lead_sf_id FROM people WHERE email = ANY(%s)", new)
    assert len(linked) == 6 and all(synced.admin.get("Lead", p["lead_sf_id"])["Lead_Score__c"] == p["lead_score"]
                                    for p in linked)
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_a_full_first_chunk_starts_small_and_updates_that_all_succeed_read_no_results(synced, monkeypatch) -> None:
    # Chunks of ten, 23 score edits: the first full chunk is sent as 2 and 8, then 10 and 3.
    # Every row succeeds: the jobs' counters say so, and no job reads its per-row results.
    monkeypatch.setenv("CRM_WRITEBACK_BATCH_SIZE", "10")
    people = contacts_only(synced, 23, offset=110)
    for person in people:
        edit(synced, "UPDATE people SET lead_score = %s WHERE id = %s", 500 + person["id"] % 89, person["id"])
    synced.admin.reset_stats()
    dag_run = run_writeback()
    by_kind = synced.admin.stats()["by_kind"]
    run = writeback_runs(synced, dag_run)["Contact"]
    assert_counted(run)
    assert (run["extracted"], run["updated"], run["status"]) == (23, 23, "succeeded")
    rows = results(synced, dag_run)
    jobs = Counter(job for r in rows for job in r["job_ids"])
    assert sorted(jobs.values()) == [2, 3, 8, 10]
    assert (by_kind["bulk2_ingest"], by_kind.get("bulk2_ingest_results", 0)) == (4, 0)
    for person in people:
        assert synced.admin.get("Contact", person["contact_sf_id"])["Lead_Score__c"] == 500 + person["id"] % 89
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_steady_state_after_two_cycles_writes_nothing(synced) -> None:
    # One busy cycle: Salesforce and marketing changes, a new person, an opt-out both ways.
    scored, unsubscribed, renamed = contacts_only(synced, 3, offset=60)
    edit(synced, "UPDATE people SET lead_score = 42, last_visit_at = now() WHERE id = %s", scored["id"])
    edit(synced, "UPDATE people SET unsubscribed = true WHERE id = %s", unsubscribed["id"])
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="people.first_name is locked"):
        edit(synced, "UPDATE people SET first_name = 'Edited in marketing' WHERE id = %s", renamed["id"])
    edit(synced, "INSERT INTO people (email, first_name) VALUES (%s, 'Newcomer')",
         f"steady.{int(time.time() * 1000)}@example.org")
    synced.admin.update("Contact", scored["contact_sf_id"], {"Title": "Changed in Salesforce"})
    time.sleep(0.05)
    run_differentials(synced)
    run_writeback()
    # The Salesforce-owned first name was refused (a locked field): it is still Salesforce's.
    first = synced.admin.get("Contact", renamed["contact_sf_id"])["FirstName"]
    assert synced.marketing("SELECT first_name FROM people WHERE id = %s", renamed["id"]) == [{"first_name": first}]
    for cycle in (1, 2):
        inbound = run_differentials(synced)
        for object_name, run in inbound.items():
            assert (run["created"], run["updated"], run["archived"]) == (0, 0, 0), (cycle, object_name, run)
        outbound = writeback_runs(synced, run_writeback())
        for object_name, run in outbound.items():
            assert (run["extracted"], run["created"], run["updated"], run["api_calls"]) == (0, 0, 0, 0), (
                cycle, object_name, run)
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 0}]


def test_api_budget_stops_early_and_keeps_its_place(synced, monkeypatch) -> None:
    monkeypatch.setenv("CRM_WRITEBACK_BATCH_SIZE", "2")  # one job per two records
    people = contacts_only(synced, 5, offset=70)
    for n, person in enumerate(people):
        edit(synced, "UPDATE people SET lead_score = %s WHERE id = %s", 500 + n, person["id"])
    usage = synced.admin.stats()["api_usage"]
    # 24 calls left today: the default share (50%) allows 12, enough for one job after login
    # and describes (3 calls), not for two.
    synced.admin.set_api_usage(usage["max"] - 24)
    dag_run = run_writeback()
    run = writeback_runs(synced, dag_run)["Contact"]
    assert_counted(run)
    # Two records written, the next two deferred at the budget check, the fifth not even read.
    assert (run["status"], run["updated"], run["skipped_reasons"]) == ("budget_stopped", 2,
                                                                      {"deferred_api_budget": 2})
    assert "API budget" in run["error"] and run["watermark_after"] == run["watermark_before"]
    landed = [synced.admin.get("Contact", p["contact_sf_id"])["Lead_Score__c"] == 500 + n
              for n, p in enumerate(people)]
    assert landed == [True, True, False, False, False]
    assert synced.marketing("SELECT count(*) AS n FROM crm_outbox") == [{"n": 3}]
    assert run["api_calls"] <= 12

    synced.admin.set_api_usage(usage["used"])
    run = writeback_runs(synced, run_writeback())["Contact"]
    assert (run["status"], run["updated"]) == ("succeeded", 3)
    assert all(synced.admin.get("Contact", p["contact_sf_id"])["Lead_Score__c"] == 500 + n
               for n, p in enumerate(people))


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_the_writeback_dag_parses_without_connections_and_follows_the_policy(monkeypatch) -> None:
    from airflow.sdk import BaseHook

    def refuse(*args, **kwargs):
        raise AssertionError("DAG parsing must not touch a connection or the network")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(refuse))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    bag = _dagbag()
    assert bag.import_errors == {}
    dag = bag.dags["crm_writeback"]
    assert _interval(dag.schedule) == timedelta(hours=1) and dag.max_active_runs == 1 and not dag.catchup
    watchers = dag.schedule.asset_condition.watchers
    assert [(w.name, type(w.trigger).__name__, w.trigger.conn_id) for w in watchers] == [
        ("crm_outbox_changes", "OutboxTrigger", "marketing_db")]
    assert "crm_sync" in dag.tags and dag.doc_md.startswith("Write-back:")
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"prepare", "write", "activity", "refresh", "finalize"}
    assert tasks["write"].upstream_task_ids == {"prepare"} and tasks["finalize"].upstream_task_ids == {"refresh"}
    assert tasks["activity"].upstream_task_ids == {"write"} and tasks["refresh"].upstream_task_ids == {"activity"}
    assert all(tasks[t].pool == "salesforce_api" for t in ("prepare", "write", "activity", "refresh"))
    assert tasks["write"].retries >= 1


def _interval(schedule) -> timedelta:
    """The time part of the write-back's schedule (it also runs on each burst of marketing changes)."""
    return schedule.timetable.delta


def test_the_writeback_interval_setting_is_validated(monkeypatch) -> None:
    monkeypatch.setenv("CRM_WRITEBACK_INTERVAL_MINUTES", "15")
    assert _interval(_dagbag().dags["crm_writeback"].schedule) == timedelta(minutes=15)
    monkeypatch.setenv("CRM_WRITEBACK_ON_CHANGE", "false")  # the interval alone
    assert _dagbag().dags["crm_writeback"].schedule == timedelta(minutes=15)
    monkeypatch.setenv("CRM_WRITEBACK_ON_CHANGE", "sometimes")
    assert any("CRM_WRITEBACK_ON_CHANGE='sometimes': expected true or false" in e
               for e in _dagbag().import_errors.values())
    monkeypatch.setenv("CRM_WRITEBACK_ON_CHANGE", "true")
    monkeypatch.setenv("CRM_WRITEBACK_INTERVAL_MINUTES", "1")
    errors = _dagbag().import_errors
    assert any("CRM_WRITEBACK_INTERVAL_MINUTES=1: must be between 5 and 1440" in e for e in errors.values())


def test_change_tracking_records_marketing_edits_not_the_syncs_own(fresh_databases) -> None:
    with psycopg.connect(fresh_databases.marketing, autocommit=True) as conn:
        def outbox() -> dict[int, tuple]:
            return {row[0]: row[1:] for row in conn.execute(
                "SELECT row_id, fields, base, is_new, change_seq FROM crm_outbox WHERE tbl = 'people'")}

        def as_sync(origin: str, query: str) -> None:
            with conn.transaction():
                conn.execute(f"SET LOCAL crm_sync.origin = '{origin}'")
                conn.execute(query)

        [(form,)] = conn.execute("INSERT INTO people (email, lead_score) VALUES ('form@example.org', 1) RETURNING id")
        as_sync("crm", "INSERT INTO people (email, contact_sf_id) VALUES ('synced@example.org', '003A')")
        synced = conn.execute("SELECT id FROM people WHERE email = 'synced@example.org'").fetchone()[0]
        assert outbox() == {form: (["email", "lead_score", "unsubscribed"], {}, True, 1)}

        conn.execute("DELETE FROM crm_outbox")
        conn.execute("UPDATE people SET lead_score = 2, title = 'T', updated_at = now() WHERE id = %s", (synced,))
        conn.execute("UPDATE people SET lead_score = 3 WHERE id = %s", (synced,))
        conn.execute("UPDATE people SET title = title WHERE id = %s", (synced,))  # no change, no record
        [(fields, base, is_new, seq)] = outbox().values()
        assert (fields, base, is_new) == (["lead_score", "title"], {"lead_score": None, "title": None}, False)

        # Salesforce's value replacing a pending edit becomes its base; the write-back's own
        # writes (links) are not edits at all.
        as_sync("crm", f"UPDATE people SET title = 'From Salesforce', first_name = 'Ada' WHERE id = {synced}")
        as_sync("writeback", f"UPDATE people SET lead_sf_id = '00QB', lead_score = 9 WHERE id = {synced}")
        assert outbox() == {synced: (["lead_score", "title"], {"lead_score": None, "title": "From Salesforce"},
                                     False, seq)}
        changed = dict(conn.execute("SELECT field, changed_at FROM crm_field_changes WHERE row_id = %s", (synced,)))
        assert set(changed) == {"lead_score", "title"}


def test_a_marketing_account_is_upserted_by_its_external_id(synced, tmp_path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(INCLUDE_DIR / "mappings", mappings)
    account = mappings / "account.yaml"
    account.write_text(account.read_text().replace(
        "mode: create_and_update\n",
        "mode: create_and_update\nwriteback: {create: true, external_id: External_Id__c}\n"))
    monkeypatch.setenv("CRM_SYNC_MAPPINGS_DIR", str(mappings))
    key = f"MKT-{int(time.time() * 1000)}"
    edit(synced, "INSERT INTO accounts (name, external_id, city) VALUES ('Marketing Co', %s, 'Lyon')", key)
    dag_run = run_writeback()
    run = writeback_runs(synced, dag_run)["Account"]
    assert_counted(run)
    assert (run["created"], run["failed"]) == (1, 0)
    [row] = synced.marketing("SELECT sf_id, owner_sf_id FROM accounts WHERE external_id = %s", key)
    record = synced.admin.get("Account", row["sf_id"])
    assert (record["Name"], record["External_Id__c"], record["BillingCity"]) == ("Marketing Co", key, "Lyon")
    assert row["owner_sf_id"] == record["OwnerId"]  # read back into the marketing row
    again = writeback_runs(synced, run_writeback())
    assert "Account" not in again or again["Account"]["extracted"] == 0
