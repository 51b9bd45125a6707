"""Showcase: marketing activity becomes Salesforce Tasks, once, however often the write-back runs."""

from __future__ import annotations

from emulator.admin import AdminClient


def show(admin: AdminClient) -> None:
    """Record activity for a synced person, run `crm_writeback` twice, print the Tasks and what changed."""
    import crm_writeback

    from crm_sync.context import RunContext
    from crm_sync.db import connect
    from devstack.demo import run_dag
    from devstack.report import print_table, sync_runs_since, writeback_rows

    ctx = RunContext.load()
    print("\n== Marketing activity becomes Salesforce Tasks on the person's Contact (or Lead)", flush=True)
    with connect(ctx.settings.marketing_conn_id) as mk:
        person_id, email, who = mk.execute(
            "SELECT id, email, COALESCE(contact_sf_id, lead_sf_id) FROM people WHERE archived_at IS NULL"
            " AND COALESCE(contact_sf_id, lead_sf_id) IS NOT NULL ORDER BY id LIMIT 1").fetchone()
        with mk.cursor() as cur:
            cur.executemany("INSERT INTO marketing_activities (person_id, kind, occurred_at, subject, campaign)"
                            " VALUES (%s, %s, now() - make_interval(mins => %s), %s, %s)",
                            [(person_id, "email_send", 30, "Spring offer", "Spring"),
                             (person_id, "email_open", 20, "Spring offer", "Spring"),
                             (person_id, "email_click", 19, "Spring offer", "Spring"),
                             (person_id, "visit", 18, "/pricing", None)])
        mk.commit()
    print(f"   4 activities recorded for {email} ({who})")
    for attempt in ("first", "second"):
        with connect(ctx.settings.warehouse_conn_id) as wh:
            since = wh.execute("SELECT now()").fetchone()[0]
        before = admin.count("Task")
        run_dag(crm_writeback.crm_writeback)
        rows = [writeback_rows(r) for r in sync_runs_since(since) if r["kind"] == "writeback" and r["object"] == "Task"]
        print_table(f"Activity write-back, {attempt} run (sync log)", rows)
        print(f"   new Tasks in Salesforce: {admin.count('Task') - before}")
        if attempt == "first":
            tasks = ctx.salesforce().query_records(
                "SELECT Subject, ActivityDate, Status, TaskSubtype, Marketing_Activity_Id__c FROM Task"
                f" WHERE WhoId = '{who}' AND Marketing_Activity_Id__c != null ORDER BY Marketing_Activity_Id__c")
            print_table(f"Tasks on {who}", [{k: v for k, v in t.items() if k != "attributes"} for t in tasks])
