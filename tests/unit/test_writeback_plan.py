"""From pending marketing changes to Salesforce record writes (pure planning)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from crm_sync.mapping import load_mappings
from crm_sync.mapping.model import ObjectMapping
from crm_sync.paths import INCLUDE_DIR
from crm_sync.writeback.plan import Change, plan_create, plan_update, record_links

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")
CONTACT, LEAD = MAPPINGS.get("Contact"), MAPPINGS.get("Lead")
VALUES = MAPPINGS.value_maps
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def change(fields: set[str], base: dict | None = None, *, is_new: bool = False, **row) -> Change:
    person = {"id": 7, "email": "ada@example.org", "archived_at": None, "contact_sf_id": None, "lead_sf_id": None,
              "unsubscribed": False} | row
    return Change(table="people", row_id=7, seq=3, fields=frozenset(fields), base=base or {}, is_new=is_new,
                  changed_at={f: T0 for f in fields}, row=person)


def test_outbox_rows_become_changes() -> None:
    parsed = Change.from_outbox("people", {
        "wb_row_id": 7, "wb_seq": 12, "wb_fields": ["lead_score"], "wb_base": {"lead_score": 5}, "wb_is_new": False,
        "wb_changed_at": {"lead_score": "2025-03-01T00:00:00.5+00:00"}, "id": 7, "lead_score": Decimal("6")})
    assert (parsed.row_id, parsed.seq, parsed.fields, parsed.base) == (7, 12, frozenset({"lead_score"}),
                                                                      {"lead_score": 5})
    assert parsed.changed_at["lead_score"] == datetime(2025, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert parsed.row == {"id": 7, "lead_score": Decimal("6")}


def test_a_person_links_to_its_contact_and_its_lead() -> None:
    person = change(set(), contact_sf_id="003A", lead_sf_id="00QB")
    assert (record_links(person, CONTACT), record_links(person, LEAD)) == ("003A", "00QB")


def test_owned_fields_are_written_salesforce_owned_ones_restored() -> None:
    edited = change({"lead_score", "last_visit_at", "unsubscribed", "first_name"},
                    {"lead_score": 1, "last_visit_at": None, "unsubscribed": False, "first_name": "Ada"},
                    lead_score=Decimal("70"), last_visit_at=datetime(2030, 1, 2, tzinfo=UTC), unsubscribed=True,
                    first_name="Edited", contact_sf_id="003000000000001AAA")
    task = plan_update(edited, CONTACT, "003000000000001AAA", VALUES)
    assert task.values == {"Lead_Score__c": "70", "Last_Visit__c": "2030-01-02T00:00:00.000Z",
                           "HasOptedOutOfEmail": "true"}
    assert (task.operation, task.key, task.restored, task.outcome) == ("update", "003000000000001AAA",
                                                                      ["first_name"], None)


def test_a_cleared_value_is_sent_as_null() -> None:
    task = plan_update(change({"lead_score"}, {"lead_score": 5}, lead_score=None), CONTACT, "003X", VALUES)
    assert task.values == {"Lead_Score__c": "#N/A"}


def test_nothing_to_write_is_unchanged_or_restored() -> None:
    only_owned = plan_update(change({"title"}, {"title": "a"}, title="b"), CONTACT, "003X", VALUES)
    assert (only_owned.operation, only_owned.outcome, only_owned.reason) == ("none", "skipped",
                                                                            "restored_from_salesforce")
    unrelated = plan_update(change({"some_marketing_column"}), CONTACT, "003X", VALUES)
    assert (unrelated.operation, unrelated.outcome) == ("none", "unchanged")


def test_fields_salesforce_will_not_update_are_noted_not_sent() -> None:
    task = plan_update(change({"lead_score"}, {"lead_score": 1}, lead_score=2), CONTACT, "003X", VALUES,
                       updateable={"hasoptedoutofemail"})
    assert task.values == {} and task.notes == ["Lead_Score__c cannot be written in Salesforce (not in the org, or not updateable)"]


def test_a_new_person_becomes_a_lead_with_what_marketing_knows() -> None:
    new = change({"email", "first_name", "lead_score", "unsubscribed", "status"}, is_new=True,
                 first_name="Ada", lead_score=Decimal("55"), unsubscribed=True, status="Prospect")
    task = plan_create(new, LEAD, VALUES)
    assert task.operation == "insert" and task.key == "ada@example.org"
    assert task.values == {"Email": "ada@example.org", "FirstName": "Ada", "LastName": "ada", "Company": "[not provided]",
                           "Status__c": "2", "HasOptedOutOfEmail": "true", "Lead_Score__c": "55"}


def test_a_new_person_omits_defaults_and_values_salesforce_cannot_take() -> None:
    new = change({"email"}, is_new=True, last_name="Lovelace", company="Engines", status="Lapsed")
    task = plan_create(new, LEAD, VALUES, createable={"email", "lastname", "company", "status__c"})
    assert task.values == {"Email": "ada@example.org", "LastName": "Lovelace", "Company": "Engines"}
    assert task.notes == ["status: 'Lapsed' is not a marketing value of value map 'contact_status'"]


ACCOUNT = ObjectMapping.model_validate({
    "object": "Account", "target": "accounts", "writeback": {"create": True, "external_id": "External_Id__c"},
    "fields": [{"source": "Name", "target": "name"}, {"source": "External_Id__c", "target": "external_id"}]})


def test_other_rows_are_upserted_by_external_id() -> None:
    row = Change(table="accounts", row_id=3, seq=1, fields=frozenset({"name", "external_id"}), base={}, is_new=True,
                 changed_at={}, row={"id": 3, "sf_id": None, "name": "Acme", "external_id": "MKT-1"})
    task = plan_create(row, ACCOUNT, {})
    assert (task.operation, task.key, task.values) == ("upsert", "MKT-1", {"Name": "Acme", "External_Id__c": "MKT-1"})
    row.row["external_id"] = None
    keyless = plan_create(row, ACCOUNT, {})
    assert (keyless.operation, keyless.outcome, keyless.reason) == ("none", "skipped", "no_external_id")


def test_a_source_with_a_code_and_a_meaning_is_created_once() -> None:
    assert [f.target for f in LEAD.fields if f.source == "Status__c"] == ["status_code", "status"]
    meaning_only = plan_create(change({"email", "status"}, is_new=True, status="Prospect"), LEAD, VALUES)
    assert meaning_only.values["Status__c"] == "2"
    code_only = plan_create(change({"email", "status_code"}, is_new=True, status_code="4"), LEAD, VALUES)
    assert code_only.values["Status__c"] == "4"
