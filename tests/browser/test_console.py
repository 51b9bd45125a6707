"""The CRM sync console in a real Airflow UI, driven with Chromium: sign in, every page, the
history filters, replay and dismiss from quarantine (the triggered `crm_record_sync` runs on
the scheduler and the records load), the record timeline with "sync now", and refusals for a
viewer and for a signed-out browser. Screenshots are kept in `tests/browser/artifacts/`."""

from __future__ import annotations

import importlib
import re
from urllib.parse import quote

import requests

from tests.browser.conftest import screenshot, sign_in

INVALID_EMAIL = "email: not a valid email address"
TITLE_TOO_LONG = "title: longer than 100 characters"


def _console_frame(page):
    """The console inside Airflow's UI (an iframe of the external view)."""
    return page.frame_locator("iframe[title='CRM sync']")


def _in_airflow(stack, path: str) -> str:
    """The Airflow UI address that shows a console page in its main area."""
    return f"{stack.base_url}/plugin/crm-sync/crm-sync{path}"


def test_a_signed_out_browser_and_request_are_refused(console_stack, browser) -> None:
    stack = console_stack
    for method, path in [("GET", "/"), ("GET", "/history"), ("GET", "/api/overview"),
                         ("GET", "/record/003000000000001AAA"), ("POST", "/api/quarantine/replay"),
                         ("POST", "/api/quarantine/dismiss"), ("POST", "/api/records/003000000000001AAA/sync")]:
        response = requests.request(method, stack.console(path), timeout=30, json={"object": "Contact", "ids": [1]})
        assert response.status_code == 401, (method, path, response.status_code)
        forged = requests.request(method, stack.console(path), timeout=30, json={"object": "Contact", "ids": [1]},
                                  headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code in (401, 403), (method, path, forged.status_code)
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(stack.console("/quarantine"))
    assert response.status == 401
    assert page.locator("#refused").inner_text().startswith("Sign in to Airflow")
    assert page.locator("table").count() == 0  # no data leaks onto the refusal page
    screenshot(page, "signed_out")
    page.goto(_in_airflow(stack, "/"))
    page.wait_for_url(re.compile(r"/auth/login"))
    context.close()


def test_overview_shows_each_object_and_stands_out_what_needs_attention(console_stack, browser) -> None:
    stack = console_stack
    page = sign_in(browser, stack, "admin")
    page.goto(f"{stack.base_url}/")
    page.get_by_role("link", name="CRM sync").click()
    frame = _console_frame(page)
    contact = frame.locator("#objects tr[data-object=Contact]")
    contact.wait_for()
    cells = contact.locator("td")
    imported = stack.warehouse("SELECT created, quarantined FROM crm_sync.sync_runs WHERE run_id = 1")[0]
    people = stack.marketing("SELECT count(*) AS n FROM people WHERE contact_sf_id IS NOT NULL")[0]["n"]
    assert "differential #1" in cells.nth(1).inner_text()
    assert cells.nth(2).inner_text() == "succeeded"
    assert cells.nth(6).inner_text() == str(people) == str(imported["created"])
    open_quarantine = stack.warehouse("SELECT count(*) AS n FROM crm_quarantine.records"
                                      " WHERE object = 'Contact' AND status = 'open'")[0]["n"]
    assert cells.nth(5).inner_text() == str(open_quarantine)
    assert "attention" not in (contact.get_attribute("class") or "")
    lead = frame.locator("#objects tr[data-object=Lead]")
    assert "attention" in lead.get_attribute("class")  # its only run failed (API budget used up)
    assert "failing" in lead.inner_text() and "stale" in lead.inner_text()
    account = frame.locator("#objects tr[data-object=Account]")
    assert "attention" in account.get_attribute("class") and "never synced" in account.inner_text()
    page.wait_for_timeout(300)
    screenshot(page, "overview")


def test_history_filters_charts_and_a_run_page(console_stack, browser) -> None:
    stack = console_stack
    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, "/history"))
    frame = _console_frame(page)
    frame.locator("#runs").wait_for()
    runs = stack.warehouse("SELECT count(*) AS n FROM crm_sync.sync_runs")[0]["n"]
    # The Contact import, the write-back (a row per object it writes: Campaign, CampaignMember,
    # Contact, Lead and the activity Tasks) and the two Lead differentials.
    assert runs == 8 and frame.locator("#runs tbody tr[data-run]").count() == runs
    frame.locator("select[name=object]").select_option("Contact")
    frame.locator("select[name=kind]").select_option("differential")
    frame.locator("#history-filters button[type=submit]").click()
    frame.locator("select[name=kind] option[selected]").wait_for(state="attached")
    rows = frame.locator("#runs tbody tr[data-run]")
    assert rows.count() == 1
    assert rows.first.locator("td").nth(1).inner_text() == "Contact"
    assert rows.first.locator("td").nth(2).inner_text() == "differential"
    assert frame.locator("svg.chart").count() == 3
    assert frame.locator("svg.chart rect.s-created").count() == 1
    screenshot(page, "history")

    rows.first.locator("a").first.click()
    frame.locator("dl.facts").wait_for()
    run = stack.warehouse("SELECT * FROM crm_sync.sync_runs WHERE run_id = 1")[0]
    steps = frame.locator("table.steps th").all_inner_texts()
    assert set(steps) == set(run["durations"]) and {"extract", "validate", "load", "finalize"} <= set(steps)
    airflow_link = frame.locator("dl.facts a.airflow")
    assert airflow_link.get_attribute("href") == (
        f"/dags/crm_differential_contact/runs/{quote(run['dag_run_id'], safe='')}")
    task_links = frame.locator("#tasks a.airflow")
    assert task_links.count() == 2  # a differential is two tasks: extract, publish
    assert "/tasks/" in task_links.first.get_attribute("href")
    screenshot(page, "run")
    airflow_link.click()  # opens Airflow's own DAG run page in the main window, not in the frame
    page.wait_for_url(re.compile(r"/dags/crm_differential_contact/runs/"))


def test_a_failed_runs_page_says_what_went_wrong_and_what_to_do(console_stack, browser) -> None:
    stack = console_stack
    stopped, failed = stack.warehouse("SELECT run_id, status, error FROM crm_sync.sync_runs WHERE object = 'Lead'"
                                      " AND kind = 'differential' ORDER BY run_id")
    assert stopped["status"] == "budget_stopped" and "REQUEST_LIMIT_EXCEEDED" in stopped["error"]
    assert failed["status"] == "failed" and "INVALID_LOGIN" in failed["error"]
    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, "/history?status=failed"))
    frame = _console_frame(page)
    frame.locator(f"#runs a[href$='/runs/{failed['run_id']}']").click()
    explained = frame.locator("#error")
    explained.wait_for()
    assert "refused the sync's login" in explained.locator("h3").inner_text()
    assert "salesforce_default" in explained.inner_text()
    assert "failed" in frame.locator("#tasks").inner_text()
    screenshot(page, "run_failed")


def test_replay_from_quarantine_runs_crm_record_sync_and_the_fixed_records_load(console_stack, browser) -> None:
    stack = console_stack
    candidates = stack.warehouse(
        "SELECT quarantine_id, sf_id FROM crm_quarantine.records WHERE status = 'open' AND object = 'Contact'"
        " AND reasons = ARRAY[%s] ORDER BY quarantine_id LIMIT 2", INVALID_EMAIL)
    fixed = candidates[0]
    email = f"fixed.{fixed['sf_id'].lower()}@example.com"
    stack.emulator.admin().update("Contact", fixed["sf_id"], {"Email": email})  # fixed in Salesforce

    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, f"/quarantine?object=Contact&reason={quote(INVALID_EMAIL)}"))
    frame = _console_frame(page)
    record = frame.locator(f"#records tr[data-sf-id='{fixed['sf_id']}']")
    record.wait_for()
    assert "Email" in record.locator("td.offending").inner_text()
    screenshot(page, "quarantine")
    record.locator("input[name=ids]").check()
    frame.locator("#replay-selected").click()
    flash = frame.locator("#flash.ok")
    flash.wait_for()
    dag_run_id = re.search(r"DAG run (\S+)\.", flash.inner_text()).group(1)

    # The title reason's records are replayed as a whole from the group's button, unfixed.
    page.goto(_in_airflow(stack, "/quarantine"))
    frame = _console_frame(page)
    frame.locator(f"button.replay-reason[data-reason='{TITLE_TOO_LONG}']").click()
    frame.locator("#flash.ok").wait_for()
    all_of_reason = re.search(r"DAG run (\S+)\.", frame.locator("#flash").inner_text()).group(1)

    run = stack.wait_for_dag_run("crm_record_sync", dag_run_id)
    assert run["state"] == "success" and run["conf"] == {"object": "Contact", "ids": fixed["sf_id"]}
    assert run["triggering_user_name"] == "admin"
    assert stack.marketing("SELECT email FROM people WHERE contact_sf_id = %s", fixed["sf_id"]) == [{"email": email}]
    settled = stack.warehouse("SELECT status, resolution_note, resolved_by FROM crm_quarantine.records"
                              " WHERE quarantine_id = %s", fixed["quarantine_id"])[0]
    assert settled == {"status": "replayed", "resolved_by": "admin",
                       "resolution_note": f"replayed by crm_record_sync run {dag_run_id}"}
    untouched = stack.warehouse("SELECT status FROM crm_quarantine.records WHERE quarantine_id = %s",
                                candidates[1]["quarantine_id"])
    assert untouched == [{"status": "open"}]

    assert stack.wait_for_dag_run("crm_record_sync", all_of_reason)["state"] == "success"
    by_status = {row["status"]: row["n"] for row in stack.warehouse(
        "SELECT status, count(*) AS n FROM crm_quarantine.records WHERE %s = ANY (reasons) GROUP BY status",
        TITLE_TOO_LONG)}
    assert by_status["replayed"] == 8 and by_status["open"] == 8  # still too long: quarantined again

    page.goto(_in_airflow(stack, f"/record/{fixed['sf_id']}"))
    frame = _console_frame(page)
    frame.locator("#events").wait_for()
    outcomes = frame.locator("#events tbody tr td:nth-child(4)").all_inner_texts()
    assert outcomes == ["created", "quarantined"]  # newest first: the replay loaded it
    assert "replayed by crm_record_sync run" in frame.locator("#record-quarantine").inner_text()
    screenshot(page, "record_timeline_replayed")


def test_dismiss_with_a_note(console_stack, browser) -> None:
    stack = console_stack
    target = stack.warehouse("SELECT quarantine_id, sf_id FROM crm_quarantine.records WHERE status = 'open'"
                             " AND reasons = ARRAY[%s] ORDER BY quarantine_id DESC LIMIT 1", INVALID_EMAIL)[0]
    page = sign_in(browser, stack, "admin")
    page.goto(stack.console(f"/quarantine?object=Contact&reason={quote(INVALID_EMAIL)}"))
    page.locator(f"tr[data-sf-id='{target['sf_id']}'] input[name=ids]").check()
    page.locator("#dismiss-selected").click()
    page.locator("#flash.error").wait_for()  # a dismissal needs a reason
    page.fill("#dismiss-note", "test record, deleted in Salesforce next week")
    page.locator("#dismiss-selected").click()
    page.locator("#flash.ok").wait_for()
    assert stack.warehouse("SELECT status, resolution_note, resolved_by FROM crm_quarantine.records"
                           " WHERE quarantine_id = %s", target["quarantine_id"]) == [
        {"status": "dismissed", "resolution_note": "test record, deleted in Salesforce next week",
         "resolved_by": "admin"}]


def test_record_timeline_by_email_and_sync_now(console_stack, browser) -> None:
    stack = console_stack
    person = stack.marketing("SELECT email, contact_sf_id FROM people WHERE contact_sf_id IS NOT NULL"
                             " AND lead_score = 11")[0]
    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, "/record"))
    frame = _console_frame(page)
    frame.locator("#record-search input[name=q]").fill(person["email"].upper())
    frame.locator("#record-search button").click()
    frame.locator("#events").wait_for()
    assert person["contact_sf_id"] in frame.locator("h2").inner_text()
    assert frame.locator("#events tbody tr td:nth-child(4)").all_inner_texts()[-1] == "created"
    writeback = frame.locator("#record-writebacks tbody tr").first.inner_text()
    assert "updated" in writeback and "Lead_Score__c" in writeback
    screenshot(page, "record_timeline")
    frame.locator("#sync-now").click()
    frame.locator("#flash.ok").wait_for()
    dag_run_id = re.search(r"DAG run (\S+)\.", frame.locator("#flash").inner_text()).group(1)
    run = stack.wait_for_dag_run("crm_record_sync", dag_run_id)
    assert run["state"] == "success" and run["conf"]["ids"] == person["contact_sf_id"]
    assert stack.warehouse("SELECT kind, status, extracted FROM crm_sync.sync_runs WHERE dag_run_id = %s",
                           dag_run_id) == [{"kind": "record", "status": "succeeded", "extracted": 1}]


def test_writeback_page_shows_runs_results_and_salesforces_rejection(console_stack, browser) -> None:
    stack = console_stack
    rejected = stack.warehouse("SELECT * FROM crm_sync.writeback_results WHERE outcome = 'failed'")
    assert len(rejected) == 1
    page = sign_in(browser, stack, "admin", color_scheme="dark")
    page.goto(_in_airflow(stack, "/writeback"))
    frame = _console_frame(page)
    row = frame.locator("#rejections tbody tr")
    row.wait_for()
    assert "NUMBER_OUTSIDE_VALID_RANGE" in row.inner_text()
    row.locator("summary").click()
    assert f'"id": {rejected[0]["marketing_id"]}' in row.locator("pre").inner_text()
    frame.locator(f"#writeback-runs a[href$='run_id={rejected[0]['run_id']}#results']").click()
    frame.locator("#writeback-results").wait_for()
    outcomes = frame.locator("#writeback-results tbody tr td:nth-child(4)").all_inner_texts()
    assert sorted(outcomes) == ["failed", "updated"]
    assert frame.locator("html").get_attribute("data-theme") == "dark"  # follows Airflow's colour mode
    screenshot(page, "writeback_dark")


def test_a_viewer_sees_the_pages_but_cannot_replay_dismiss_or_sync(console_stack, browser) -> None:
    stack = console_stack
    open_row = stack.warehouse("SELECT quarantine_id, sf_id FROM crm_quarantine.records WHERE status = 'open'"
                               " ORDER BY quarantine_id LIMIT 1")[0]
    secrets_known = [stack.passwords["admin"], stack.passwords["viewer"], "emulator-password", "emulator-token"]
    for path in ("/", "/history", "/runs/1", "/quarantine", f"/record/{open_row['sf_id']}", "/writeback",
                 "/api/overview", "/api/history", "/api/writeback?run_id=2"):
        response = stack.api("viewer", "GET", f"/crm-sync{path}")
        assert response.status_code == 200, path
        assert not [secret for secret in secrets_known if secret in response.text], path
    selection = {"object": "Contact", "ids": [open_row["quarantine_id"]]}
    assert stack.api("viewer", "POST", "/crm-sync/api/quarantine/replay", json=selection).status_code == 403
    assert stack.api("viewer", "POST", "/crm-sync/api/quarantine/dismiss",
                     json={**selection, "note": "not mine to dismiss"}).status_code == 403
    assert stack.api("viewer", "POST", f"/crm-sync/api/records/{open_row['sf_id']}/sync",
                     json={"object": "Contact"}).status_code == 403
    page = sign_in(browser, stack, "viewer")
    page.goto(stack.console("/quarantine"))
    page.locator("button.replay-reason").first.click()
    page.locator("#flash.error").wait_for()
    assert page.locator("#flash").inner_text().startswith("Refused: 403")
    assert stack.warehouse("SELECT status FROM crm_quarantine.records WHERE quarantine_id = %s",
                           open_row["quarantine_id"]) == [{"status": "open"}]


def test_history_shows_the_console_triggered_runs(console_stack, browser) -> None:
    stack = console_stack
    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, "/history"))
    frame = _console_frame(page)
    frame.locator("#runs").wait_for()
    kinds = frame.locator("#runs tbody tr td:nth-child(3)").all_inner_texts()
    record_runs = stack.warehouse("SELECT count(*) AS n FROM crm_sync.sync_runs WHERE kind = 'record'")[0]["n"]
    assert kinds.count("record") == record_runs >= 3  # two replays and a "sync now"
    assert frame.locator("svg.chart").first.locator("rect.hit").count() == len(kinds)
    screenshot(page, "history_all")


def test_schema_drift_shows_on_the_overview_and_the_run_page(console_stack, browser) -> None:
    import crm_differential
    from airflow.utils.state import DagRunState

    stack = console_stack
    dag = importlib.reload(crm_differential).crm_differential_account
    assert dag.test().state == DagRunState.SUCCESS  # the first describe of Account is only recorded
    # As if the run before had seen Industry as text and no BillingState field.
    stack.warehouse("UPDATE crm_sync.object_fields SET type = 'string' WHERE object = 'Account'"
                    " AND field = 'Industry' RETURNING field")
    stack.warehouse("DELETE FROM crm_sync.object_fields WHERE object = 'Account' AND field = 'BillingState'"
                    " RETURNING field")
    assert dag.test().state == DagRunState.SUCCESS
    run_id = stack.warehouse("SELECT max(run_id) AS id FROM crm_sync.sync_runs WHERE object = 'Account'")[0]["id"]

    page = sign_in(browser, stack, "admin")
    page.goto(_in_airflow(stack, "/"))
    frame = _console_frame(page)
    drift = frame.locator("#objects tr[data-object=Account] .drift")
    drift.wait_for()
    assert drift.inner_text() == "schema drift: new: BillingState; type changed: Industry (string → picklist)"
    assert frame.locator("#objects tr[data-object=Contact] .drift").count() == 0
    drift.locator("a").click()
    section = frame.locator("#schema-drift")
    section.wait_for()
    assert f"run #{run_id}" in frame.locator("h2").inner_text()
    assert section.locator("tr[data-drift=new] td").all_inner_texts() == ["BillingState", "new in Salesforce (not mapped)"]
    assert section.locator("tr[data-drift=changed] td").all_inner_texts() == ["Industry", "type string → picklist"]
    screenshot(page, "schema_drift")
