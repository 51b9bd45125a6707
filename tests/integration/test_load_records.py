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
