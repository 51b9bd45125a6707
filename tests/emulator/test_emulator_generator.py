"""The seeded org: determinism, proportions and the dirt real orgs carry (no server needed)."""

from __future__ import annotations

import re
import sqlite3

import pytest

from emulator.generator import proportions, seed_org
from emulator.ids import IdFactory, is_valid_id, make_id, to_18

VALID_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    path = tmp_path_factory.mktemp("seeded")
    seed_org(path, 20000, 5, "etl@example.com")
    conn = sqlite3.connect(path / "org.sqlite")
    yield conn
    conn.close()


def _dump(path):
    conn = sqlite3.connect(path / "org.sqlite")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '\\_%' "
                                         "ESCAPE '\\' AND name != 'sqlite_sequence' ORDER BY name")]
    data = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rid').fetchall() for t in tables}
    conn.close()
    return data


def test_same_records_and_seed_give_the_same_org(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        seed_org(tmp_path / name, 1500, seed, "etl@example.com")
    first, second, other = (_dump(tmp_path / n) for n in "abc")
    assert first == second
    assert first["Contact"] != other["Contact"]


def test_proportions(org):
    counts = {name: org.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in proportions(20000)}
    assert counts == proportions(20000)
    assert counts == {"User": 25, "Account": 2000, "Contact": 20000, "Lead": 5000, "Opportunity": 2000,
                      "Campaign": 5, "CampaignMember": 2000, "Subscription__c": 1000, "Task": 10000,
                      "Event": 2000}
    assert org.execute('SELECT IsSandbox, OrganizationType FROM "Organization"').fetchall() == [
        (0, "Enterprise Edition")]


def _share(org, sql):
    return org.execute(sql).fetchone()[0] / 20000


def test_contact_email_dirt(org):
    emails = [r[0] for r in org.execute("SELECT Email FROM Contact")]
    missing = sum(e is None for e in emails) / len(emails)
    present = [e for e in emails if e is not None]
    untidy = sum(e != e.strip().lower() for e in present) / len(emails)
    malformed = sum(not VALID_EMAIL.match(e.strip()) for e in present) / len(emails)
    assert 0.02 < missing < 0.04
    assert 0.04 < untidy < 0.06
    assert 0.015 < malformed < 0.03
    shapes = [e for e in present if not VALID_EMAIL.match(e.strip())]
    assert any(e.endswith("@") for e in shapes) and any(" " in e.strip() for e in shapes)
    assert any("@" not in e for e in shapes)
    duplicates = org.execute("SELECT COUNT(*) FROM (SELECT Email FROM Contact WHERE Email IS NOT NULL "
                             "GROUP BY Email HAVING COUNT(*) > 1)").fetchone()[0]
    assert 0.004 < duplicates / 20000 < 0.02


def test_leads_share_and_convert_to_contacts(org):
    leads = 5000
    shared = org.execute("SELECT COUNT(*) FROM Lead l WHERE l.Email IS NOT NULL AND EXISTS "
                         "(SELECT 1 FROM Contact c WHERE c.Email = l.Email)").fetchone()[0]
    assert 0.05 < shared / leads < 0.15
    converted = org.execute("SELECT COUNT(*), SUM(Status = 'Closed - Converted'), SUM(l.Email IS c.Email), "
                            "SUM(ConvertedDate IS NOT NULL) FROM Lead l JOIN Contact c ON c.Id = l.ConvertedContactId "
                            "WHERE l.IsConverted = 1").fetchone()
    total = org.execute("SELECT COUNT(*) FROM Lead WHERE IsConverted = 1").fetchone()[0]
    assert 0.04 < total / leads < 0.06
    assert converted == (total, total, total, total)


def test_other_dirt(org):
    assert 0.005 < _share(org, "SELECT COUNT(*) FROM Contact WHERE IsDeleted = 1") < 0.015
    long_titles = org.execute("SELECT MIN(LENGTH(Title)), MAX(LENGTH(Title)) FROM Contact "
                              "WHERE LENGTH(Title) >= 100").fetchone()
    assert long_titles[0] >= 100 and long_titles[1] <= 128
    names = {r[0] for r in org.execute("SELECT FirstName FROM Contact")} | {
        r[0] for r in org.execute("SELECT LastName FROM Contact")}
    assert {"Zoë", "Łukasz", "José", "山田"} <= names
    assert org.execute("SELECT COUNT(*) FROM Contact WHERE Status__c = '5'").fetchone()[0] > 0
    inactive_owned = org.execute("SELECT COUNT(*) FROM Contact c JOIN User u ON u.Id = c.OwnerId "
                                 "WHERE u.IsActive = 0").fetchone()[0]
    assert 0.01 < inactive_owned / 20000 < 0.06
    with_ext = _share(org, "SELECT COUNT(*) FROM Account WHERE External_Id__c IS NOT NULL") * 10
    assert 0.85 < with_ext < 0.95
    big = org.execute("SELECT COUNT(*) FROM Account WHERE AnnualRevenue >= 1e7").fetchone()[0]
    assert big > 0


def test_relationships_point_at_existing_records(org):
    for sql in ("SELECT COUNT(*) FROM Contact c LEFT JOIN Account a ON a.Id = c.AccountId "
                "WHERE c.AccountId IS NOT NULL AND a.Id IS NULL",
                "SELECT COUNT(*) FROM Opportunity o LEFT JOIN Account a ON a.Id = o.AccountId "
                "WHERE o.AccountId IS NOT NULL AND a.Id IS NULL",
                "SELECT COUNT(*) FROM CampaignMember m LEFT JOIN Campaign c ON c.Id = m.CampaignId WHERE c.Id IS NULL",
                "SELECT COUNT(*) FROM Subscription__c s LEFT JOIN Contact c ON c.Id = s.Contact__c "
                "WHERE c.Id IS NULL",
                "SELECT COUNT(*) FROM Contact c LEFT JOIN User u ON u.Id = c.OwnerId WHERE u.Id IS NULL"):
        assert org.execute(sql).fetchone()[0] == 0, sql


def test_ids():
    assert make_id("003", 1) == "0038d0000000001AAA"
    fast = IdFactory("00Q")
    assert all(fast(n) == make_id("00Q", n) for n in (1, 61, 62, 3843, 3844, 238327, 10**8))
    record_id = make_id("001", 123456)
    assert is_valid_id(record_id) and to_18(record_id[:15]) == record_id
    assert to_18(record_id[:15] + "AAA") is None
    assert not is_valid_id("not-an-id")


def test_activities_and_marketing_fields(org):
    orphans = org.execute("SELECT COUNT(*) FROM Task t LEFT JOIN Contact c ON c.Id = t.WhoId LEFT JOIN Lead l "
                          "ON l.Id = t.WhoId WHERE t.WhoId IS NOT NULL AND c.Id IS NULL AND l.Id IS NULL").fetchone()
    assert orphans[0] == 0
    no_who = org.execute("SELECT COUNT(*) FROM Task WHERE WhoId IS NULL").fetchone()[0] / 10000
    assert 0.07 < no_who < 0.13
    on_leads = org.execute("SELECT COUNT(*) FROM Task WHERE WhoId LIKE '00Q%'").fetchone()[0] / 10000
    assert 0.2 < on_leads < 0.4
    assert org.execute("SELECT COUNT(*) FROM Task WHERE IsClosed != (Status = 'Completed')").fetchone()[0] == 0
    assert org.execute("SELECT COUNT(*) FROM Event WHERE EndDateTime <= StartDateTime").fetchone()[0] == 0
    with_email = org.execute("SELECT COUNT(*) FROM Contact WHERE Email IS NOT NULL").fetchone()[0]
    bounced = org.execute("SELECT COUNT(*) FROM Contact WHERE EmailBouncedDate IS NOT NULL AND "
                          "EmailBouncedReason IS NOT NULL").fetchone()[0]
    assert 0.01 < bounced / with_email < 0.03
    assert org.execute("SELECT COUNT(*) FROM Contact WHERE EmailBouncedDate < CreatedDate").fetchone()[0] == 0
    details = {r[0] for r in org.execute("SELECT Lead_Source_Detail__c FROM Lead WHERE LeadSource IS NOT NULL")}
    assert {"N/A", "Google Ads - brand"} <= details
    assert org.execute("SELECT COUNT(*) FROM Lead WHERE LeadSource IS NULL AND Lead_Source_Detail__c IS NOT NULL"
                       ).fetchone()[0] == 0
    assert 0.1 < _share(org, "SELECT COUNT(*) FROM Contact WHERE Description LIKE '%' || char(10) || '%'") * 3 < 0.3
