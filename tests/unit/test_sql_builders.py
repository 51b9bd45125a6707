"""SQL generated from mappings: identifiers quoted, conflict rules, statement order."""

from __future__ import annotations

from crm_sync.load import load_statements
from crm_sync.mapping import load_mappings
from crm_sync.paths import INCLUDE_DIR
from crm_sync.transform import publish_columns, publish_query, validation_query

MAPPINGS = load_mappings(INCLUDE_DIR / "mappings")


def test_validation_query_projects_text_columns_named_by_target() -> None:
    query = validation_query(MAPPINGS.get("Contact"), 42)
    assert "r.run_id = 42" in query and "NOT r.is_deleted" in query
    assert """NULLIF(lower(btrim("r".payload ->> 'Email', ' \t\n\r\x0c\x0b\xa0')), '') AS "email\"""" in query
    assert '"lead_score"' in query  # to_crm fields are still validated


def test_publish_casts_value_maps_and_skips_marketing_owned_fields() -> None:
    mapping = MAPPINGS.get("Contact")
    text = publish_query(mapping).as_string(None)
    assert "crm_mapping.value_maps \"vm_status\"" in text and "'contact_status'" in text
    assert '::boolean' in text
    names = [name for name, _ in publish_columns(mapping)]
    assert "lead_score" not in names and "unsubscribed" in names


def test_people_statements_apply_true_wins_and_contact_precedence() -> None:
    lead = [s.as_string(None) for s in load_statements(MAPPINGS.get("Lead"))]
    assert "older_version" in lead[0]  # an older version of a record is skipped before anything else
    assert "converted_contact_id" in lead[1]  # then conversion
    upsert = next(s for s in lead if "INSERT INTO people" in s)
    assert '(COALESCE("p"."unsubscribed", false) OR COALESCE(EXCLUDED."unsubscribed", false))' in upsert
    assert '(p.contact_sf_id IS NULL OR p.archived_at IS NOT NULL)' in upsert
    contact_upsert = next(s for s in (x.as_string(None) for x in load_statements(MAPPINGS.get("Contact")))
                          if "INSERT INTO people" in s)
    assert '"contact_sf_id"' in contact_upsert and "CASE WHEN true THEN" in contact_upsert


def test_account_statements_claim_by_external_id_first() -> None:
    statements = [s.as_string(None) for s in load_statements(MAPPINGS.get("Account"))]
    assert "older_version" in statements[0]
    assert '"external_id"' in statements[1] and "duplicate_match_key" in statements[1]
    assert 'INSERT INTO "accounts"' in statements[2]
    assert "deleted in Salesforce" in statements[-1]
