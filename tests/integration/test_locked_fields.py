"""Locked fields on real PostgreSQL: published from the mappings, marketing edits of them
rejected or reverted (per CRM_LOCKED_FIELDS), the sync's own writes and inserts let through."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from crm_sync.locked_fields import locked_columns, publish
from crm_sync.mapping import load_mappings
from crm_sync.paths import INCLUDE_DIR
from crm_sync.targets import ensure_target_table

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def _published(mk: psycopg.Connection, action: str) -> int:
    for mapping in MAPPINGS.objects:
        ensure_target_table(mk, mapping)
    changed = publish(mk, MAPPINGS, action)
    mk.commit()
    return changed


@pytest.fixture
def marketing(fresh_databases) -> Any:
    with psycopg.connect(fresh_databases.marketing) as mk:
        _published(mk, "reject")
        with mk.transaction():  # a person the sync loaded from a Contact
            mk.execute("SELECT set_config('crm_sync.origin', 'crm', true)")
            mk.execute("INSERT INTO people (email, first_name, title, contact_sf_id, lead_score)"
                       " VALUES ('ann@example.com', 'Ann', 'Buyer', '003000000000001AAA', 10)")
        mk.commit()
        yield mk


def _person(mk: psycopg.Connection, email: str = "ann@example.com") -> dict[str, Any]:
    with mk.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM people WHERE email = %s", (email,)).fetchone()
    mk.commit()
    assert row is not None
    return row


def _outbox(mk: psycopg.Connection) -> list[tuple[Any, ...]]:
    rows = mk.execute("SELECT tbl, fields FROM crm_outbox ORDER BY row_id").fetchall()
    mk.commit()
    return rows


def test_the_locked_columns_are_published_once(marketing) -> None:
    rows = marketing.execute("SELECT table_name, column_name, owner, action FROM crm_locked_fields"
                             " WHERE table_name = 'people' ORDER BY column_name").fetchall()
    columns = {r[1]: (r[2], r[3]) for r in rows}
    # Salesforce-owned on both objects, on one object only, and never the marketing-owned ones.
    assert columns["title"] == ("Contact.Title, Lead.Title", "reject")
    assert columns["company"] == ("Lead.Company", "reject")
    assert columns["email"] == ("Contact.Email, Lead.Email", "reject")
    assert not {"unsubscribed", "lead_score", "hard_bounced_at", "bounce_reason", "last_touch_channel"} & set(columns)
    assert {("accounts", "name"), ("people", "title")} <= set(locked_columns(MAPPINGS))
    assert _published(marketing, "reject") == 0  # a second publish writes nothing
    stamp = marketing.execute("SELECT max(updated_at) FROM crm_locked_fields").fetchone()
    assert _published(marketing, "revert") == len(rows) + marketing.execute(
        "SELECT count(*) FROM crm_locked_fields WHERE table_name <> 'people'").fetchone()[0]
    assert marketing.execute("SELECT max(updated_at) > %s FROM crm_locked_fields", stamp).fetchone() == (True,)


def test_a_marketing_edit_of_a_locked_column_is_rejected(marketing) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        marketing.execute("UPDATE people SET title = 'Edited in marketing', lead_score = 20"
                          " WHERE email = 'ann@example.com'")
    marketing.rollback()
    assert str(refused.value).startswith("people.title is locked: Salesforce owns it (Contact.Title, Lead.Title)")
    assert "Change it in Salesforce" in (refused.value.diag.message_hint or "")
    person = _person(marketing)
    assert (person["title"], person["lead_score"]) == ("Buyer", 10)
    assert _outbox(marketing) == []
    # Marketing-owned columns stay editable, and an update that leaves locked values alone passes.
    marketing.execute("UPDATE people SET lead_score = 30, title = title WHERE email = 'ann@example.com'")
    marketing.commit()
    assert _person(marketing)["lead_score"] == 30
    assert _outbox(marketing) == [("people", ["lead_score"])]


def test_revert_undoes_the_locked_column_only_and_says_so(marketing) -> None:
    _published(marketing, "revert")
    notices: list[str] = []
    marketing.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    marketing.execute("UPDATE people SET title = 'Edited in marketing', lead_score = 40"
                      " WHERE email = 'ann@example.com'")
    marketing.commit()
    person = _person(marketing)
    assert (person["title"], person["lead_score"]) == ("Buyer", 40)
    assert any(n.startswith("people.title is locked: Salesforce owns it") and "reverted" in n for n in notices)
    assert _outbox(marketing) == [("people", ["lead_score"])]  # the reverted column is not queued


def test_off_lets_the_edit_through(marketing) -> None:
    _published(marketing, "off")
    marketing.execute("UPDATE people SET title = 'Edited in marketing' WHERE email = 'ann@example.com'")
    marketing.commit()
    assert _person(marketing)["title"] == "Edited in marketing"


def test_the_syncs_own_writes_inserts_and_unlinked_rows_pass(marketing) -> None:
    for origin in ("crm", "writeback"):
        with marketing.transaction():
            marketing.execute("SELECT set_config('crm_sync.origin', %s, true)", (origin,))
            marketing.execute("UPDATE people SET title = %s WHERE email = 'ann@example.com'", (f"From {origin}",))
        marketing.commit()
        assert _person(marketing)["title"] == f"From {origin}"
    # A form creates a person with every value it has; until the person is linked to
    # Salesforce, the marketing side still owns all of it.
    marketing.execute("INSERT INTO people (email, first_name, title) VALUES ('new@example.com', 'New', 'Form')")
    marketing.execute("UPDATE people SET first_name = 'Fixed typo' WHERE email = 'new@example.com'")
    marketing.commit()
    assert (_person(marketing, "new@example.com")["first_name"]) == "Fixed typo"
