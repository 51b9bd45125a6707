"""Membership filters (campaign lists): the only sub-query shape accepted, the reads built from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_sync.mapping import MappingError, load_mapping, load_mappings
from crm_sync.mapping.filters import MembershipTerm, parse_filter
from crm_sync.paths import INCLUDE_DIR
from crm_sync.salesforce.soql import (
    left_filter_condition,
    live_ids_queries,
    member_changes_query,
    outside_filter_queries,
    window_live_condition,
)

CAMPAIGN = "701000000000001AAA"
MEMBERS = f"Id IN (SELECT ContactId FROM CampaignMember WHERE CampaignId = '{CAMPAIGN}' AND Status = 'Responded')"
MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def test_a_membership_semi_join_is_read_with_its_campaign() -> None:
    parsed = parse_filter(f"Email != null AND {MEMBERS}")
    assert parsed.text == f"Email != null AND {MEMBERS}"
    assert parsed.memberships == (MembershipTerm(
        negated=False, object="CampaignMember", field="ContactId",
        condition=f"CampaignId = '{CAMPAIGN}' AND Status = 'Responded'", campaigns=f"CampaignId = '{CAMPAIGN}'"),)


def test_an_anti_join_and_a_campaign_list() -> None:
    [term] = parse_filter("Id NOT IN (SELECT LeadId FROM CampaignMember WHERE CampaignId IN ('a', 'b'))").memberships
    assert (term.negated, term.field, term.campaigns) == (True, "LeadId", "CampaignId IN ('a', 'b')")


def test_no_campaign_narrowing_under_or() -> None:
    [term] = parse_filter("Id IN (SELECT ContactId FROM CampaignMember WHERE CampaignId = 'a' OR Status = 'x')"
                          ).memberships
    assert term.campaigns is None


def test_plain_filters_have_no_memberships_and_may_quote_keywords() -> None:
    assert parse_filter("Name = 'from here' AND (A = 1 OR B = 2)").memberships == ()


@pytest.mark.parametrize(("condition", "expected"), [
    ("Email != null OR " + MEMBERS, "must be ANDed"),
    ("NOT " + MEMBERS, "must be ANDed"),
    (f"({MEMBERS})", "must be ANDed"),
    (f"{MEMBERS} AND {MEMBERS} AND {MEMBERS}", "at most 2"),
    ("Id IN (SELECT AccountId FROM Contact)", "membership is read from CampaignMember, not Contact"),
    ("Id IN (SELECT Id FROM CampaignMember)", "must select ContactId or LeadId, not Id"),
    ("Id IN (SELECT ContactId FROM CampaignMember WHERE Campaign.Name = 'x')", "name the campaign by CampaignId"),
    ("Id IN (SELECT ContactId FROM CampaignMember WHERE ContactId IN (SELECT Id FROM Contact))", "one level"),
    ("AccountId IN (SELECT ContactId FROM CampaignMember)", "a sub-query is only allowed as Id IN"),
    ("Id IN (SELECT ContactId FROM CampaignMember LIMIT 5)", "a sub-query is only allowed as Id IN"),
    ("Id IN (SELECT ContactId FROM CampaignMember WHERE)", "a sub-query is only allowed as Id IN"),
    ("Id IN (SELECT ContactId FROM CampaignMember ORDER BY Id", "unbalanced parentheses"),
    ("SELECT Id FROM Contact", "a sub-query is only allowed as Id IN"),
    ("Email != null LIMIT 5", "only a WHERE condition is allowed"),
])
def test_other_sub_queries_are_refused(condition: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_filter(condition)


def _mapping_file(tmp_path: Path, obj: str, condition: str) -> Path:
    path = tmp_path / f"{obj.lower()}.yaml"
    path.write_text(f'object: {obj}\ntarget: people\nmatch_key: email\nfilter: "{condition}"\n'
                    "fields:\n  - {source: Email, target: email}\n")
    return path


def test_the_reference_must_be_the_mapping_s_object(tmp_path: Path) -> None:
    path = _mapping_file(tmp_path, "Lead", MEMBERS)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(str(path))
    assert "a Lead is a member through LeadId, not ContactId" in str(caught.value)
    assert load_mapping(_mapping_file(tmp_path, "Contact", MEMBERS)).memberships[0].field == "ContactId"


def test_membership_reads() -> None:
    mapping = MAPPINGS.get("Contact").model_copy(update={"filter": MEMBERS})
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert member_changes_query(mapping.memberships[0], start, end) == (
        "SELECT ContactId FROM CampaignMember WHERE SystemModstamp >= 2024-01-01T00:00:00.000Z"
        f" AND SystemModstamp < 2024-01-01T01:00:00.000Z AND ContactId != null AND (CampaignId = '{CAMPAIGN}')")
    assert window_live_condition(start, end) == (
        "SystemModstamp >= 2024-01-01T00:00:00.000Z AND SystemModstamp < 2024-01-01T01:00:00.000Z"
        " AND IsDeleted = false")
    ids = ["003000000000001AAA"] * 201
    assert [q.count("'") // 2 for q in live_ids_queries(mapping, ids)] == [200, 1]
    # Salesforce refuses NOT around a semi-join: the NOT (filter) reads are not for these filters.
    with pytest.raises(ValueError, match="membership filter"):
        left_filter_condition(mapping, start, end)
    with pytest.raises(ValueError, match="membership filter"):
        list(outside_filter_queries(mapping, ids))
