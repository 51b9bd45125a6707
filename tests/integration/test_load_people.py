"""The people loader on real PostgreSQL: Leads and Contacts merge by email, conversions,
duplicates, deletes and undeletes, email changes, true_wins, update_only, idempotence."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from crm_sync.load import load_run
from crm_sync.mapping import load_mappings
from crm_sync.normalize import from_rest
from crm_sync.paths import INCLUDE_DIR
from crm_sync.prepare import load_value_maps
from crm_sync.runs import start_run
from crm_sync.staging import stage_rows
from crm_sync.targets import ensure_target_table

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")
_stamp = itertools.count(1)


def contact(sf_id: str, email: str | None, **fields: Any) -> dict[str, Any]:
    """A Contact as REST returns it (mapped fields only)."""
    # Every record made later is a later version (the load never goes back to an older one).
    stamp = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_stamp))
    base = {"Id": sf_id, "SystemModstamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "IsDeleted": False, "Email": email, "FirstName": "Ann", "LastName": "Lee", "Status__c": "2",
            "HasOptedOutOfEmail": False}
    return base | fields


def lead(sf_id: str, email: str | None, **fields: Any) -> dict[str, Any]:
    """A Lead as REST returns it."""
    base = contact(sf_id, email) | {"Company": "Acme", "Status": "Open - Not Contacted",
                                    "IsConverted": False, "ConvertedContactId": None}
    return base | fields


@dataclass
class Loaded:
    """A load's outcome counts, and the rows it skipped (row id, Id, reason) as the warehouse got them."""

    counts: Counter[str]
    skipped: list[tuple[int, str, str]]


class Loader:
    """Stage records as one run and load them, like the pipeline's load step."""

    def __init__(self, dsns) -> None:
        self.wh = psycopg.connect(dsns.warehouse)
        self.mk = psycopg.connect(dsns.marketing)
        load_value_maps(self.wh, MAPPINGS)
        self.wh.commit()
        for name in ("Contact", "Lead"):  # as prepare does: columns the mappings add (status_code)
            ensure_target_table(self.mk, MAPPINGS.get(name))
        self.mk.commit()

    def run(self, object_name: str, records: list[dict[str, Any]], **overrides: Any) -> Loaded:
        mapping = MAPPINGS.get(object_name).model_copy(update=overrides)
        run_id = start_run(self.wh, object_name=object_name, kind="record", dag_run_id=None,
                           window_start=None, window_end=None, watermark_before=None)
        stage_rows(self.wh, run_id, (from_rest(r) for r in records))
        self.wh.commit()
        shared = (frozenset(f.target for f in MAPPINGS.get(mapping.person_link.other_object).loaded_fields)
                  if mapping.is_people else None)
        counts = load_run(self.wh, self.mk, mapping, run_id, shared=shared).counts
        skipped = [(int(row_id), sf_id, reason) for row_id, sf_id, reason in self.wh.execute(
            "SELECT row_id, sf_id, skip_reason FROM load_outcomes WHERE outcome = 'skipped' ORDER BY row_id")]
        self.wh.commit()
        return Loaded(counts, skipped)

    def people(self) -> dict[str, dict[str, Any]]:
        with self.mk.cursor(row_factory=psycopg.rows.dict_row) as cur:
            rows = cur.execute("SELECT * FROM people ORDER BY email").fetchall()
        self.mk.commit()
        return {row["email"]: row for row in rows}


@pytest.fixture
def loader(fresh_databases) -> Loader:
    return Loader(fresh_databases)


def test_lead_and_contact_with_one_email_are_one_person(loader: Loader) -> None:
    result = loader.run("Lead", [lead("00Q000000000001AAA", " Ann@Example.com ", Title="Lead title")])
    assert result.counts == {"created": 1}
    result = loader.run("Contact", [contact("003000000000001AAA", "ann@example.com", Title="Contact title",
                                            Status__c="4")])
    assert result.counts == {"updated": 1}
    person = loader.people()["ann@example.com"]
    assert person["lead_sf_id"] == "00Q000000000001AAA" and person["contact_sf_id"] == "003000000000001AAA"
    assert person["title"] == "Contact title" and person["status"] == "Sales Qualified"
    assert person["sf_object"] == "Contact" and person["lead_stage"] == "new"
    # A later Lead change no longer overrides the Contact's values, but still counts as seen.
    loader.run("Lead", [lead("00Q000000000001AAA", "ann@example.com", Title="Changed on lead")])
    assert loader.people()["ann@example.com"]["title"] == "Contact title"


def test_lead_only_columns_do_not_depend_on_which_object_loads_first(fresh_databases) -> None:
    people = []
    for order in (("Lead", "Contact"), ("Contact", "Lead")):
        loader = Loader(fresh_databases)
        records = {"Lead": [lead("00Q000000000002AAA", "bo@example.com", Company="Bo Ltd", Title="Lead title")],
                   "Contact": [contact("003000000000002AAA", "bo@example.com", Title="Contact title")]}
        for object_name in order:
            loader.run(object_name, records[object_name])
        person = loader.people()["bo@example.com"]
        people.append({k: person[k] for k in ("company", "lead_stage", "title", "sf_object")})
        loader.mk.execute("DELETE FROM people")
        loader.mk.commit()
    assert people[0] == people[1] == {"company": "Bo Ltd", "lead_stage": "new", "title": "Contact title",
                                      "sf_object": "Contact"}


def test_second_load_of_the_same_records_changes_nothing(loader: Loader) -> None:
    records = [contact(f"0030000000000{i:02d}AAA", f"p{i}@example.com") for i in range(10)]
    assert loader.run("Contact", records).counts == {"created": 10}
    before = loader.people()
    assert loader.run("Contact", records).counts == {"unchanged": 10}
    assert loader.people() == before  # not even updated_at moved


def test_converted_lead_becomes_its_contact(loader: Loader) -> None:
    loader.run("Lead", [lead("00Q000000000002AAA", "bo@example.com")])
    result = loader.run("Lead", [lead("00Q000000000002AAA", "bo@example.com", IsConverted=True,
                                      ConvertedContactId="003000000000002AAA", Status="Closed - Converted")])
    assert result.counts == {"updated": 1}
    person = loader.people()["bo@example.com"]
    assert person["contact_sf_id"] == "003000000000002AAA" and person["lead_sf_id"] is None
    result = loader.run("Contact", [contact("003000000000002AAA", "bo@example.com", FirstName="Bo")])
    assert result.counts == {"updated": 1}
    assert loader.people()["bo@example.com"]["first_name"] == "Bo"
    # Seen again, the converted Lead is skipped: its Contact carries the person.
    result = loader.run("Lead", [lead("00Q000000000002AAA", "bo@example.com", IsConverted=True,
                                      ConvertedContactId="003000000000002AAA")])
    assert result.counts == {"skipped": 1} and result.skipped[0][2] == "converted_lead"


def test_duplicate_emails_keep_one_owner_and_skip_the_rest(loader: Loader) -> None:
    result = loader.run("Contact", [contact("003000000000009AAA", "dup@example.com", FirstName="Nine"),
                                    contact("003000000000003AAA", "DUP@example.com", FirstName="Three")])
    assert result.counts == {"created": 1, "skipped": 1}
    assert [(sf_id, reason) for _, sf_id, reason in result.skipped] == [("003000000000009AAA", "duplicate_email")]
    assert loader.people()["dup@example.com"]["first_name"] == "Three"
    # The owner keeps the person in later runs too.
    result = loader.run("Contact", [contact("003000000000009AAA", "dup@example.com", FirstName="Nine")])
    assert result.counts == {"skipped": 1}


def test_an_email_its_owner_leaves_in_the_same_batch_is_not_a_duplicate(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000011AAA", "swap@example.com", FirstName="Owner")])
    # The owner moves to a new email while another Contact arrives with the old one.
    result = loader.run("Contact", [contact("003000000000011AAA", "moved@example.com", FirstName="Owner"),
                                    contact("003000000000012AAA", "swap@example.com", FirstName="Newcomer")])
    assert result.skipped == []
    people = loader.people()
    assert people["moved@example.com"]["contact_sf_id"] == "003000000000011AAA"
    assert people["swap@example.com"]["contact_sf_id"] == "003000000000012AAA"
    assert people["swap@example.com"]["first_name"] == "Newcomer"


def test_delete_archives_and_undelete_restores(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000004AAA", "cy@example.com")])
    result = loader.run("Contact", [contact("003000000000004AAA", "cy@example.com", IsDeleted=True)])
    assert result.counts == {"archived": 1}
    person = loader.people()["cy@example.com"]
    assert person["archived_at"] is not None and person["archive_reason"] == "Contact deleted in Salesforce"
    result = loader.run("Contact", [contact("003000000000004AAA", "cy@example.com")])
    assert result.counts == {"updated": 1}
    assert loader.people()["cy@example.com"]["archived_at"] is None


def test_deleting_the_lead_of_a_person_with_a_contact_only_unlinks_it(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000005AAA", "di@example.com")])
    loader.run("Lead", [lead("00Q000000000005AAA", "di@example.com")])
    result = loader.run("Lead", [lead("00Q000000000005AAA", "di@example.com", IsDeleted=True)])
    assert result.counts == {"archived": 1}
    person = loader.people()["di@example.com"]
    assert person["archived_at"] is None and person["lead_sf_id"] is None


def test_email_change_moves_the_person_or_joins_the_existing_one(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000006AAA", "old@example.com"),
                           contact("003000000000007AAA", "taken@example.com")])
    result = loader.run("Contact", [contact("003000000000006AAA", "new@example.com")])
    assert result.counts == {"updated": 1}
    people = loader.people()
    assert "old@example.com" not in people and people["new@example.com"]["contact_sf_id"] == "003000000000006AAA"
    # A Lead moving onto an email a Contact person already has joins that person.
    loader.run("Lead", [lead("00Q000000000008AAA", "lone@example.com")])
    loader.run("Lead", [lead("00Q000000000008AAA", "taken@example.com")])
    people = loader.people()
    assert people["taken@example.com"]["lead_sf_id"] == "00Q000000000008AAA"
    assert people["lone@example.com"]["archived_at"] is not None


def test_unsubscribe_is_true_wins(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000010AAA", "eve@example.com")])
    loader.mk.execute("UPDATE people SET unsubscribed = true WHERE email = 'eve@example.com'")
    loader.mk.commit()
    result = loader.run("Contact", [contact("003000000000010AAA", "eve@example.com", HasOptedOutOfEmail=False,
                                            FirstName="Eve")])
    assert result.counts == {"updated": 1}
    person = loader.people()["eve@example.com"]
    assert person["unsubscribed"] is True and person["first_name"] == "Eve"


def test_update_only_creates_nothing(loader: Loader) -> None:
    loader.run("Contact", [contact("003000000000011AAA", "known@example.com")])
    result = loader.run("Contact", [contact("003000000000011AAA", "known@example.com", FirstName="K"),
                                    contact("003000000000012AAA", "unknown@example.com")],
                        mode="update_only")
    assert result.counts == {"updated": 1, "skipped": 1}
    assert result.skipped[0][1:] == ("003000000000012AAA", "update_only_no_match")
    assert set(loader.people()) == {"known@example.com"}


def test_trims_strip_tabs_line_breaks_and_non_breaking_spaces(loader: Loader) -> None:
    result = loader.run("Contact", [contact("003000000000013AAA", "\tMia@Example.COM\u00a0\n",
                                            FirstName=" Mia\t")])
    assert result.counts == {"created": 1}
    assert loader.people()["mia@example.com"]["first_name"] == "Mia"


def test_an_older_contact_version_never_replaces_the_person(loader: Loader) -> None:
    newer = contact("003000000000081AAA", "late@example.com", Title="Newer",
                    SystemModstamp="2025-06-01T00:00:00.000+0000")
    loader.run("Contact", [newer])
    older = newer | {"Title": "Older", "Email": "moved@example.com", "SystemModstamp": "2025-05-01T00:00:00.000+0000"}
    result = loader.run("Contact", [older])
    assert result.counts == {"skipped": 1}
    assert [(sf_id, reason) for _, sf_id, reason in result.skipped] == [("003000000000081AAA", "older_version")]
    person = loader.people()["late@example.com"]
    assert person["title"] == "Newer" and "moved@example.com" not in loader.people()
    assert person["contact_sf_system_modstamp"].isoformat() == "2025-06-01T00:00:00+00:00"


def test_an_email_stored_in_another_case_is_the_same_person(loader: Loader) -> None:
    loader.mk.execute("INSERT INTO people (email, first_name) VALUES (' Mixed.Case@Example.com', 'Form')")
    loader.mk.commit()
    result = loader.run("Contact", [contact("003000000000091AAA", "mixed.case@example.com")])
    assert result.counts == {"updated": 1}
    people = loader.people()
    assert list(people) == ["mixed.case@example.com"]
    assert people["mixed.case@example.com"]["contact_sf_id"] == "003000000000091AAA"


def test_a_stored_email_in_another_form_takes_the_normalised_one_the_oldest_person_first(loader: Loader) -> None:
    # People the marketing side wrote itself, before any sync: two forms of one email, and
    # one form whose normalised email another person already has.
    loader.mk.execute("INSERT INTO people (email, first_name) VALUES ('  Ann@Example.COM', 'first'),"
                      " ('ANN@example.com ', 'second'), ('Bob@Example.com', 'other'), ('bob@example.com', 'taken')")
    loader.mk.commit()
    result = loader.run("Contact", [contact("003000000000002AAA", "ann@example.com"),
                                    contact("003000000000003AAA", "bob@example.com")])
    people = loader.people()
    assert people["ann@example.com"]["first_name"] == "Ann" and people["ann@example.com"]["contact_sf_id"] \
        == "003000000000002AAA"
    assert {p["email"] for p in people.values() if p["contact_sf_id"] is None} == {"ANN@example.com ",
                                                                                 "Bob@Example.com"}
    assert people["bob@example.com"]["contact_sf_id"] == "003000000000003AAA"
    first = loader.mk.execute("SELECT min(id) FROM people WHERE email IN ('ann@example.com', 'ANN@example.com ')")
    assert first.fetchone()[0] == people["ann@example.com"]["id"]  # the oldest of the two forms took it
    assert result.counts == {"updated": 2}
