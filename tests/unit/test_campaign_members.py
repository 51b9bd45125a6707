"""Campaign members: the mapping, the member look-up query, insert keys and create planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.member_links import member_statements
from crm_sync.paths import INCLUDE_DIR
from crm_sync.salesforce.soql import members_queries
from crm_sync.writeback.ingest import row_key
from crm_sync.writeback.members import MEMBER_KEY, member_key, plan_create
from crm_sync.writeback.plan import Change

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")
MEMBER = MAPPINGS.get("CampaignMember")
CAMPAIGN_ID, CONTACT_ID, LEAD_ID = "701000000000001AAA", "003000000000001AAA", "00Q000000000001AAA"


def change(**row) -> Change:
    base = {"id": 5, "sf_id": None, "campaign_sf_id": CAMPAIGN_ID, "person_id": 9, "contact_sf_id": None,
            "lead_sf_id": None, "status": None, "archived_at": None}
    return Change(table="campaign_members", row_id=5, seq=1, fields=frozenset({"campaign_sf_id"}), base={},
                  is_new=True, changed_at={}, row=base | row)


def test_the_member_mapping_creates_without_an_external_id_and_links_people() -> None:
    assert MEMBER.is_campaign_member and MEMBER.writeback.create and MEMBER.writeback.external_id is None
    assert [f.source for f in MEMBER.written_fields] == ["Status"]
    before, after = member_statements(MEMBER)
    assert len(before) == 2 and len(after) == 1
    assert member_statements(MAPPINGS.get("Campaign")) == ([], [])


def test_only_campaign_members_may_create_without_an_external_id(tmp_path: Path) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_text("object: Campaign\ntarget: campaigns\nfields:\n  - {source: Name, target: name}\n"
                    "writeback: {create: true}\n")
    with pytest.raises(MappingError, match="needs writeback.external_id"):
        load_mapping(path)


def test_existing_members_are_looked_up_by_campaign_and_person() -> None:
    people = [f"003{n:012d}AAA" for n in range(250)]
    queries = list(members_queries([CAMPAIGN_ID], people))
    assert len(queries) == 2  # 200 people per query
    assert queries[0].startswith(f"SELECT Id, CampaignId, ContactId, LeadId FROM CampaignMember WHERE "
                                 f"CampaignId IN ('{CAMPAIGN_ID}') AND (ContactId IN ('{people[0]}'")
    assert f"OR LeadId IN ('{people[0]}'" in queries[0] and people[200] in queries[1]


def test_a_new_member_is_inserted_for_the_contact_keyed_by_its_three_ids() -> None:
    task = plan_create(change(contact_sf_id=CONTACT_ID, status="Responded"), MEMBER, MAPPINGS.value_maps)
    assert task.operation == "insert"
    assert task.values == {"CampaignId": CAMPAIGN_ID, "ContactId": CONTACT_ID, "Status": "Responded"}
    assert task.key == f"{CAMPAIGN_ID}|{CONTACT_ID}|" == member_key(task.values)
    # The job's result row (with empty cells for what was not sent) finds the same key.
    assert row_key({"sf__Id": "00v", "CampaignId": CAMPAIGN_ID, "ContactId": CONTACT_ID, "LeadId": ""},
                   MEMBER_KEY) == task.key
    lead = plan_create(change(lead_sf_id=LEAD_ID), MEMBER, MAPPINGS.value_maps)
    assert lead.values == {"CampaignId": CAMPAIGN_ID, "LeadId": LEAD_ID}
    assert row_key({"Email": "a@b.c"}, "Email") == "a@b.c"
