"""Two runs of one object saving their describe at once wait for each other, never collide.

Two record syncs of one object (two replays from the console), or a record sync during a
differential, describe the object at the same moment. Each saves the fields
(`schema_drift.record_drift`) and picklist values (`picklists.record_picklists`) it saw in
its own transaction; the second must wait for the first and then succeed, not fail on the
tables' keys. Real PostgreSQL; the first transaction is held open while the second writes.
"""

from __future__ import annotations

import threading

import psycopg

from crm_sync.mapping.loader import load_mappings
from crm_sync.paths import mappings_dir
from crm_sync.picklists import record_picklists
from crm_sync.salesforce import FieldInfo
from crm_sync.schema_drift import record_drift


def _fields(*names: str) -> dict[str, FieldInfo]:
    return {name.lower(): FieldInfo(name, "string", 80, True) for name in names}


def _description(*values: str) -> dict:
    return {"fields": [{"name": "LeadSource", "picklistValues": [
        {"value": value, "label": value, "active": True} for value in values]}]}


def _concurrently(first, second) -> list[BaseException]:
    """Run `first` in an open transaction, `second` in a thread meanwhile, then commit both."""
    errors: list[BaseException] = []
    started = threading.Event()

    def run_second() -> None:
        try:
            started.set()
            second()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    first_done = first()
    thread = threading.Thread(target=run_second)
    thread.start()
    started.wait()
    thread.join(timeout=1.0)  # the second one waits on the first's uncommitted rows
    first_done()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return errors


def test_two_runs_saving_a_changed_describe_at_once_both_succeed(fresh_databases) -> None:
    contact = next(m for m in load_mappings(mappings_dir()).objects if m.object == "Contact")
    with psycopg.connect(fresh_databases.warehouse) as wh:
        record_drift(wh, 0, contact, _fields("Id", "Email"))
        record_picklists(wh, None, "Contact", _description("Web"))
    one, two = psycopg.connect(fresh_databases.warehouse), psycopg.connect(fresh_databases.warehouse)
    try:
        # Both saw the old describe; both now see a new field and a new picklist value.
        for conn in (one, two):
            conn.execute("SELECT count(*) FROM crm_sync.object_fields").fetchone()

        def first():
            record_drift(one, 0, contact, _fields("Id", "Email", "Title"))
            record_picklists(one, None, "Contact", _description("Web", "Event"))
            return one.commit

        def second():
            record_drift(two, 0, contact, _fields("Id", "Email", "Title"))
            record_picklists(two, None, "Contact", _description("Web", "Event"))
            two.commit()

        assert _concurrently(first, second) == []
    finally:
        one.close()
        two.close()
    with psycopg.connect(fresh_databases.warehouse) as wh:
        assert sorted(r[0] for r in wh.execute("SELECT field FROM crm_sync.object_fields WHERE object = 'Contact'")) \
            == ["Email", "Id", "Title"]
        assert sorted(r[0] for r in wh.execute(
            "SELECT value FROM crm_mapping.picklist_values WHERE object = 'Contact'")) == ["Event", "Web"]


def test_a_field_gone_from_the_describe_is_removed(fresh_databases) -> None:
    contact = next(m for m in load_mappings(mappings_dir()).objects if m.object == "Contact")
    with psycopg.connect(fresh_databases.warehouse) as wh:
        record_drift(wh, 0, contact, _fields("Id", "Email", "Old__c"))
        record_picklists(wh, None, "Contact", _description("Web", "Fax"))
        record_drift(wh, 0, contact, _fields("Id", "Email"))
        record_picklists(wh, None, "Contact", _description("Web"))
        assert sorted(r[0] for r in wh.execute("SELECT field FROM crm_sync.object_fields")) == ["Email", "Id"]
        assert [r[0] for r in wh.execute("SELECT value FROM crm_mapping.picklist_values")] == ["Web"]
