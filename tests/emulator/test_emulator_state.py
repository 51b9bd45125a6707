"""Persistence across restarts, the change generator, and changes made during a paged read."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading

from simple_salesforce import Salesforce

from emulator.auth import API_USER_ID
from emulator.launcher import REPO_ROOT


def test_restart_keeps_org_sessions_usage_and_jobs(fresh, connect, tmp_path):
    state = tmp_path / "org"
    first = fresh(state, records=300, seed=2)
    sf = connect(first)
    new_id = sf.Contact.create({"LastName": "Survivor", "Email": "survivor@example.com"})["id"]
    job = sf.bulk2.Contact._client.create_job("query", "SELECT Id FROM Contact WHERE LastName = 'Survivor'")
    before = first.admin().count("Contact")
    used = sf.limits()["DailyApiRequests"]
    first.stop()
    first.stop()  # idempotent
    second = fresh(state, records=999, seed=5)
    assert "already holds an org; --records 999 ignored" in second.log_path.read_text()
    admin = second.admin()
    assert admin.count("Contact") == before
    assert admin.get("Contact", new_id)["Email"] == "survivor@example.com"
    direct = Salesforce(session_id=sf.session_id, instance_url=second.url)  # the old session still works
    limits = direct.limits()["DailyApiRequests"]
    assert limits["Remaining"] == used["Remaining"] - 1
    page = direct.bulk2.Contact._client.get_query_results(job["id"])
    assert new_id in page["records"]


def test_mutate_summary_and_effects(fresh, connect):
    emu = fresh(records=1000, seed=4)
    admin = emu.admin()
    summary = admin.mutate(changes=150, seed=21)
    assert summary["total"] == 150 and summary["seed"] == 21
    counted = sum(n for kinds in summary["counts"].values() for n in kinds.values())
    assert counted >= 150  # conversions also insert the Contact (and Account) they create
    for obj, kinds in summary["counts"].items():
        for kind, n in kinds.items():
            assert len(summary[obj][kind]) == n
    assert {"updated", "inserted"} <= set(summary["Contact"])
    assert summary["Lead"]["converted"]
    for record_id in summary["Contact"]["updated"][:10]:
        record = admin.get("Contact", record_id)
        assert record["SystemModstamp"].replace("+0000", "Z") >= summary["started"]
        assert record["LastModifiedById"] != API_USER_ID  # CRM users, not the integration user
    for record_id in summary["Lead"]["converted"]:
        lead = admin.get("Lead", record_id)
        assert lead["IsConverted"] is True and lead["ConvertedContactId"]
    for record_id in summary["Contact"].get("deleted", []):
        if record_id not in summary["Contact"].get("undeleted", []):
            assert admin.get("Contact", record_id)["IsDeleted"] is True
    sf = connect(emu)
    changed = sf.query_all(f"SELECT Id FROM Contact WHERE SystemModstamp >= {summary['started']}",
                           include_deleted=True)
    assert set(summary["Contact"]["updated"]) <= {r["Id"] for r in changed["records"]}


def test_same_seed_same_changes(fresh):
    summaries = []
    for _ in range(2):
        emu = fresh(records=400, seed=8)
        summaries.append(emu.admin().mutate(changes=60, seed=99))
        emu.stop()
    strip = [{k: v for k, v in s.items() if k not in ("started", "finished")} for s in summaries]
    assert strip[0] == strip[1]


def test_changes_during_paged_rest_read(fresh, connect):
    emu = fresh(records=3000, seed=6)
    admin = emu.admin()
    sf = connect(emu)
    first = sf.query("SELECT Id, LastName, SystemModstamp FROM Contact ORDER BY Id")
    total = first["totalSize"]
    late_id = sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 1 OFFSET 2100")["records"][0]["Id"]
    summary = admin.mutate(changes=300, seed=5)
    admin.update("Contact", late_id, {"LastName": "ChangedMidRead"})
    admin.insert("Contact", {"LastName": "BornMidRead"})
    pages = [first]
    while not pages[-1]["done"]:
        pages.append(sf.query_more(pages[-1]["nextRecordsUrl"], identifier_is_url=True))
    ids = [r["Id"] for p in pages for r in p["records"]]
    assert len(ids) == len(set(ids)) == total  # the cursor is a snapshot: nothing shifts between pages
    assert all(p["totalSize"] == total for p in pages)
    as_read = next(r for p in pages[1:] for r in p["records"] if r["Id"] == late_id)
    assert as_read["LastName"] != "ChangedMidRead"  # pages show the org as it was when the query ran
    fresh_read = sf.query_all(f"SELECT Id, LastName FROM Contact WHERE SystemModstamp >= {summary['started']}")
    changed = {r["Id"]: r["LastName"] for r in fresh_read["records"]}
    assert changed[late_id] == "ChangedMidRead"
    assert "BornMidRead" in changed.values()


def test_bulk_read_while_mutating_concurrently(fresh, connect):
    emu = fresh(records=3000, seed=12)
    admin = emu.admin()
    sf = connect(emu)
    client = sf.bulk2.Contact._client
    job = client.create_job("query", "SELECT Id, Email, SystemModstamp FROM Contact")
    client.wait_for_job(job["id"], True, 0)
    expected = client.get_job(job["id"], True)["numberRecordsProcessed"]
    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(admin.mutate(changes=1500, seed=3)))
    worker.start()
    seen: list[str] = []
    locator = ""
    while True:
        page = client.get_query_results(job["id"], locator, 97)
        seen += [row["Id"] for row in csv.DictReader(io.StringIO(page["records"]))]
        locator = page["locator"]
        if not locator:
            break
    worker.join(120)
    assert outcome["total"] == 1500
    assert len(seen) == len(set(seen)) == expected


def test_mutate_cli_by_url_and_by_state_dir(fresh, tmp_path):
    state = tmp_path / "org"
    emu = fresh(state, records=200, seed=1)
    by_url = subprocess.run([sys.executable, "-m", "emulator", "mutate", "--url", emu.url, "--cert",
                             str(emu.cert_path), "--changes", "20", "--seed", "4"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert by_url.returncode == 0, by_url.stderr
    assert json.loads(by_url.stdout)["total"] == 20
    busy = subprocess.run([sys.executable, "-m", "emulator", "mutate", "--state-dir", str(state)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode == 2 and "a server is running" in busy.stderr
    count_before = emu.admin().count("Contact", include_deleted=True)
    emu.stop()
    direct = subprocess.run([sys.executable, "-m", "emulator", "mutate", "--state-dir", str(state), "--changes", "30",
                             "--seed", "2"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    summary = json.loads(direct.stdout)
    assert summary["total"] == 30
    again = fresh(state)
    inserted = len(summary.get("Contact", {}).get("inserted", []))
    assert again.admin().count("Contact", include_deleted=True) == count_before + inserted


def test_mutate_changes_tasks_and_events(fresh, connect):
    emu = fresh(records=1000, seed=4)
    admin = emu.admin()
    before = {obj: (admin.count(obj), admin.count(obj, include_deleted=True)) for obj in ("Task", "Event")}
    summary = admin.mutate(changes=400, seed=17)
    sf = connect(emu)
    for obj in ("Task", "Event"):
        kinds = summary["counts"][obj]
        assert kinds.get("inserted", 0) >= 5 and kinds.get("updated", 0) >= 3 and kinds.get("deleted", 0) >= 1
        inserted, deleted = len(summary[obj]["inserted"]), len(summary[obj]["deleted"])
        assert admin.count(obj, include_deleted=True) == before[obj][1] + inserted
        assert admin.count(obj) == before[obj][0] + inserted - deleted
        changed = sf.query_all(f"SELECT Id, IsDeleted FROM {obj} WHERE SystemModstamp >= {summary['started']}",
                               include_deleted=True)["records"]
        touched = {*summary[obj]["inserted"], *summary[obj]["updated"], *summary[obj]["deleted"]}
        assert touched <= {r["Id"] for r in changed}  # SystemModstamp advanced on every change
        assert {r["Id"] for r in changed if r["IsDeleted"]} >= set(summary[obj]["deleted"]) - set(
            summary[obj]["inserted"]) - set(summary[obj]["updated"])
        for record_id in summary[obj]["inserted"]:
            record = admin.get(obj, record_id)
            assert record["LastModifiedById"] != API_USER_ID
            who = record["WhoId"]
            assert who and who[:3] in ("003", "00Q")
            assert admin.get("Contact" if who.startswith("003") else "Lead", who)["IsDeleted"] is False
            if record["WhatId"]:
                assert who.startswith("003") and record["WhatId"][:3] in ("001", "006")  # Leads take no WhatId
            if obj == "Event":
                assert record["EndDateTime"] > record["StartDateTime"] > summary["started"].replace("Z", "+0000")
                assert record["DurationInMinutes"] in (30, 45, 60, 90, 1440)
                assert record["ActivityDate"] == record["StartDateTime"][:10]
            else:
                assert record["IsClosed"] is (record["Status"] == "Completed")
    updated_event = admin.get("Event", summary["Event"]["updated"][0])
    assert updated_event["SystemModstamp"].replace("+0000", "Z") >= summary["started"]
    again = fresh(records=1000, seed=4).admin().mutate(changes=400, seed=17)
    assert {obj: again[obj] for obj in ("Task", "Event")} == {obj: summary[obj] for obj in ("Task", "Event")}
