"""The independent checker itself: silent on a clean sync, exact on a corrupted database."""

from __future__ import annotations

from airflow.utils.state import DagRunState

from tests.faults.checker import Drift

OBJECTS = ["Account", "Campaign", "Contact", "Lead", "Opportunity"]


def test_a_clean_sync_has_no_drift_and_a_corruption_is_found_exactly(fault_stack, balanced_runs,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("CRM_LOCKED_FIELDS", "off")  # the hand-made corruption below must get through
    dag_run = fault_stack.run_dag("crm_full_sync", objects=OBJECTS, mode="upsert", dry_run=False)
    assert dag_run.state == DagRunState.SUCCESS, fault_stack.task_states(dag_run)
    balanced_runs()
    fault_stack.assert_no_drift()

    changed, deleted, doubled = fault_stack.marketing(
        "SELECT sf_id, name FROM accounts WHERE archived_at IS NULL AND name IS NOT NULL ORDER BY sf_id LIMIT 3")
    person = fault_stack.marketing("SELECT contact_sf_id, email FROM people WHERE archived_at IS NULL"
                                   " AND contact_sf_id IS NOT NULL ORDER BY email LIMIT 1")[0]
    _execute(fault_stack, "UPDATE accounts SET name = 'Hand-changed' WHERE sf_id = %s", changed["sf_id"])
    _execute(fault_stack, "DELETE FROM accounts WHERE sf_id = %s", deleted["sf_id"])
    _execute(fault_stack, "INSERT INTO people (email, first_name, last_name)"
             " SELECT upper(email), first_name, last_name FROM people WHERE contact_sf_id = %s",
             person["contact_sf_id"])

    found = set(fault_stack.drift())
    assert found == {
        Drift("Account", changed["sf_id"], "name", changed["name"], "Hand-changed", "value"),
        Drift("Account", deleted["sf_id"], "row", "active", None, "missing"),
        Drift("people", person["email"].upper(), "links", "a Lead or Contact", None, "unexpected"),
        Drift("people", person["email"], "email", 1, 2, "doubled"),
    }, "\n".join(map(str, found))


def _execute(stack, statement: str, *params) -> None:
    import psycopg

    with psycopg.connect(stack.databases.marketing) as conn:
        conn.execute(statement, params)
