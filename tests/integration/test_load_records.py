"""The record-table loader on real PostgreSQL: accounts by external id, archive, idempotence."""

from __future__ import annotations

import psycopg

from crm_sync.mapping import load_mappings
from crm_sync.paths import INCLUDE_DIR
from tests.integration.test_load_people import Loader

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def account(sf_id: str, external_id: str | None, **fields):
    return {"Id": sf_id, "SystemModstamp": "2024-01-01T00:00:00.000+0000", "IsDeleted": False,
            "Name": f"Account {sf_id[-4:]}", "External_Id__c": external_id, "AnnualRevenue": 1.5e7,
            "NumberOfEmployees": 12} | fields


def accounts(loader: Loader) -> dict[str, dict]:
    with loader.mk.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute("SELECT * FROM accounts ORDER BY id").fetchall()
    loader.mk.commit()
    return {row["sf_id"]: row for row in rows}


def test_accounts_claim_marketing_rows_by_external_id(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.mk.execute("INSERT INTO accounts (external_id, name) VALUES ('EXT-1', 'Made by marketing')")
    loader.mk.commit()
    result = loader.run("Account", [account("001000000000001AAA", "EXT-1"), account("001000000000002AAA", None)])
    assert result.counts == {"updated": 1, "created": 1}
    rows = accounts(loader)
    assert rows["001000000000001AAA"]["external_id"] == "EXT-1"
    assert rows["001000000000001AAA"]["name"] == "Account 1AAA"
    assert rows["001000000000002AAA"]["annual_revenue"] == 15000000
    assert len(rows) == 2
    assert loader.run("Account", [account("001000000000001AAA", "EXT-1")]).counts == {"unchanged": 1}


def test_deleted_account_is_archived_once(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.run("Account", [account("001000000000003AAA", "EXT-3")])
    deleted = account("001000000000003AAA", "EXT-3", IsDeleted=True)
    assert loader.run("Account", [deleted]).counts == {"archived": 1}
    assert accounts(loader)["001000000000003AAA"]["archive_reason"] == "Account deleted in Salesforce"
    assert loader.run("Account", [deleted]).counts == {"unchanged": 1}


def skipped(result) -> dict[str, str]:
    return {sf_id: reason for _, sf_id, reason in result.skipped}


def test_a_key_differing_by_blanks_is_a_counted_skip_never_a_takeover(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.run("Account", [account("001000000000011AAA", "EXT-11", Name="Owner")])
    result = loader.run("Account", [account("001000000000012AAA", "EXT-11 \t", Name="Intruder")])
    assert result.counts == {"skipped": 1}
    assert skipped(result) == {"001000000000012AAA": "duplicate_match_key"}
    rows = accounts(loader)
    assert list(rows) == ["001000000000011AAA"]
    assert (rows["001000000000011AAA"]["name"], rows["001000000000011AAA"]["external_id"]) == ("Owner", "EXT-11")


def test_the_row_holding_a_key_keeps_it_in_a_full_batch_too(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.run("Account", [account("001000000000029AAA", "EXT-20", Name="Holder")])
    # A full sync's batch: a lower Id with the same key (differing by a space) and the holder.
    result = loader.run("Account", [account("001000000000021AAA", " EXT-20", Name="Lower Id"),
                                    account("001000000000029AAA", "EXT-20", Name="Holder")])
    assert result.counts == {"skipped": 1, "unchanged": 1}
    assert skipped(result) == {"001000000000021AAA": "duplicate_match_key"}
    rows = accounts(loader)
    assert list(rows) == ["001000000000029AAA"] and rows["001000000000029AAA"]["external_id"] == "EXT-20"
    # New records only: the lowest Id takes the key, the other is skipped; no row without a key.
    result = loader.run("Account", [account("001000000000032AAA", "EXT-30"), account("001000000000031AAA", "EXT-30 ")])
    assert skipped(result) == {"001000000000032AAA": "duplicate_match_key"}
    assert accounts(loader)["001000000000031AAA"]["external_id"] == "EXT-30"
    assert loader.mk.execute("SELECT count(*) FROM accounts WHERE external_id IS NULL").fetchone() == (0,)


def test_keys_moving_between_records_in_one_batch_are_not_collisions(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.run("Account", [account("001000000000041AAA", "EXT-41"), account("001000000000042AAA", "EXT-42")])
    swapped = [account("001000000000041AAA", "EXT-42", SystemModstamp="2024-01-02T00:00:00.000+0000"),
               account("001000000000042AAA", "EXT-41", SystemModstamp="2024-01-02T00:00:00.000+0000")]
    assert loader.run("Account", swapped).counts == {"updated": 2}
    rows = accounts(loader)
    assert rows["001000000000041AAA"]["external_id"] == "EXT-42"
    assert rows["001000000000042AAA"]["external_id"] == "EXT-41"


def test_a_stored_key_not_in_normalised_form_is_claimed_in_that_form(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.mk.execute("INSERT INTO accounts (external_id, name) VALUES ('EXT-51\u00a0', 'Made by marketing')")
    loader.mk.commit()
    assert loader.run("Account", [account("001000000000051AAA", "EXT-51")]).counts == {"updated": 1}
    rows = accounts(loader)
    assert list(rows) == ["001000000000051AAA"] and rows["001000000000051AAA"]["external_id"] == "EXT-51"


def test_an_older_version_never_replaces_a_newer_row(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    newer = account("001000000000061AAA", "EXT-61", Name="Newer", SystemModstamp="2024-03-01T00:00:00.000+0000")
    older = account("001000000000061AAA", "EXT-61", Name="Older", SystemModstamp="2024-02-01T00:00:00.000+0000")
    loader.run("Account", [newer])
    result = loader.run("Account", [older])
    assert result.counts == {"skipped": 1} and skipped(result) == {"001000000000061AAA": "older_version"}
    row = accounts(loader)["001000000000061AAA"]
    assert row["name"] == "Newer" and row["sf_system_modstamp"].isoformat() == "2024-03-01T00:00:00+00:00"
    # An older deletion does not archive it either.
    assert loader.run("Account", [older | {"IsDeleted": True}]).counts == {"skipped": 1}
    assert accounts(loader)["001000000000061AAA"]["archived_at"] is None


def test_a_newer_version_with_the_same_values_is_unchanged_but_remembered(fresh_databases) -> None:
    loader = Loader(fresh_databases)
    loader.run("Account", [account("001000000000071AAA", "EXT-71")])
    before = accounts(loader)["001000000000071AAA"]
    later = account("001000000000071AAA", "EXT-71", SystemModstamp="2024-05-01T00:00:00.000+0000")
    assert loader.run("Account", [later]).counts == {"unchanged": 1}
    after = accounts(loader)["001000000000071AAA"]
    assert after["updated_at"] == before["updated_at"]
    assert after["sf_system_modstamp"].isoformat() == "2024-05-01T00:00:00+00:00"
    older = account("001000000000071AAA", "EXT-71", Name="Between", SystemModstamp="2024-03-01T00:00:00.000+0000")
    assert loader.run("Account", [older]).counts == {"skipped": 1}
    assert accounts(loader)["001000000000071AAA"]["name"] == "Account 1AAA"
