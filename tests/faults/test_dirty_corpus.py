"""The dirty-data corpus through the REST path (differentials) and the Bulk path (a full sync).

No object's sync may fail, every case must end as ``corpus.CASES`` says, the checker must
find no drift, and both paths must leave the marketing database identical.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.utils.state import DagRunState

from tests.faults.conftest import FaultStack, make_stack, start_org
from tests.faults.corpus import CASES, Case
from tests.fixtures.databases import new_databases

OBJECTS = ["Account", "Campaign", "Contact", "Lead", "Opportunity"]
TABLES = {"Account": "accounts", "Campaign": "campaigns", "Opportunity": "opportunities"}
LINKS = {"Contact": "contact_sf_id", "Lead": "lead_sf_id"}
# Columns whose values say when a row was written, not what it says.
VOLATILE = {"id", "created_at", "updated_at", "archived_at"}


@pytest.fixture(scope="module")
def corpus_org(stack_env, test_stack) -> Iterator[tuple[Any, dict[str, str]]]:
    """An org with the whole corpus planted; yields the emulator and case name -> record Id."""
    handle = start_org(test_stack.base_dir / "corpus-org", seed=5)
    try:
        admin = handle.admin()
        ids = {case.name: admin.plant(case.object, case.fields) for case in CASES}
        yield handle, ids
    finally:
        handle.stop()


def test_the_corpus_has_at_least_sixty_kinds_of_bad_record() -> None:
    assert len(CASES) >= 60
    assert {c.end for c in CASES} == {"load", "quarantine", "skip", "one_of"}


def test_every_case_ends_as_expected_through_rest_and_bulk_identically(
        corpus_org, pg_server, monkeypatch, test_stack, assert_balanced) -> None:
    org, ids = corpus_org
    problems: list[str] = []
    rest = make_stack(org, new_databases(pg_server), monkeypatch, test_stack.base_dir)
    for object_name in OBJECTS:
        dag_run = rest.run_dag(f"crm_differential_{object_name.lower()}")
        if dag_run.state != DagRunState.SUCCESS:
            problems.append(f"REST: crm_differential_{object_name.lower()} {dag_run.state}: "
                            f"{rest.task_states(dag_run)} {rest.last_run(object_name)['error']!r:.300}")
    problems += _run_problems(rest, "rest", assert_balanced)
    problems += [f"REST: {p}" for p in _case_failures(rest, ids)]

    bulk = make_stack(org, new_databases(pg_server), monkeypatch, test_stack.base_dir)
    dag_run = bulk.run_dag("crm_full_sync", objects=OBJECTS, mode="upsert", dry_run=False)
    if dag_run.state != DagRunState.SUCCESS:
        problems.append(f"Bulk: crm_full_sync {dag_run.state}: {bulk.task_states(dag_run)}")
    problems += _run_problems(bulk, "bulk", assert_balanced)
    problems += [f"Bulk: {p}" for p in _case_failures(bulk, ids)]
    problems += [f"REST drift: {d}" for d in rest.drift()] + [f"Bulk drift: {d}" for d in bulk.drift()]
    for table in ("people", *TABLES.values()):
        rest_rows, bulk_rows = _snapshot(rest, table), _snapshot(bulk, table)
        if rest_rows != bulk_rows:
            only_rest = [r for r in rest_rows if r not in bulk_rows][:3]
            only_bulk = [r for r in bulk_rows if r not in rest_rows][:3]
            problems.append(f"REST and Bulk differ in {table}: only REST {only_rest!r:.600} only Bulk {only_bulk!r:.600}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def _run_problems(stack: FaultStack, method: str, assert_balanced) -> list[str]:
    problems = []
    for object_name in OBJECTS:
        run = stack.last_run(object_name)
        if run["status"] != "succeeded" or run["extract_method"] != method:
            problems.append(f"{method}: {object_name} run {run['status']} via {run['extract_method']}:"
                            f" {run['error']!r:.300}")
            continue
        assert_balanced(run)
    return problems


def _row(stack: FaultStack, case: Case, record_id: str) -> dict[str, Any] | None:
    if case.object in LINKS:
        rows = stack.marketing(f"SELECT * FROM people WHERE {LINKS[case.object]} = %s", record_id)  # noqa: S608
    else:
        rows = stack.marketing(f"SELECT * FROM {TABLES[case.object]} WHERE sf_id = %s", record_id)  # noqa: S608
    return rows[0] if rows else None


def _end(stack: FaultStack, case: Case, record_id: str) -> tuple[str, Any]:
    """How the record actually ended: ('load', row) | ('quarantine', reasons) | ('skip', reasons) | ('lost', None)."""
    row = _row(stack, case, record_id)
    if row is not None and row["archived_at"] is None:
        return "load", row
    quarantined = stack.warehouse("SELECT reasons FROM crm_quarantine.records WHERE object = %s AND sf_id = %s"
                                  " AND status = 'open'", case.object, record_id)
    if quarantined:
        return "quarantine", [reason for r in quarantined for reason in r["reasons"]]
    skipped = stack.warehouse("SELECT reason FROM crm_sync.skipped WHERE sf_id = %s", record_id)
    if skipped:
        return "skip", [r["reason"] for r in skipped]
    return "lost", None


def _case_failures(stack: FaultStack, ids: dict[str, str]) -> list[str]:
    failures: list[str] = []
    groups: dict[str, list[tuple[Case, str, Any]]] = defaultdict(list)
    for case in CASES:
        end, detail = _end(stack, case, ids[case.name])
        if case.end == "one_of":
            groups[case.group].append((case, end, detail))
        elif end != case.end:
            failures.append(f"{case.name}: expected {case.end}, ended {end} {detail!r:.300}")
        elif end == "load":
            wrong = {c: (v, detail[c]) for c, v in case.values.items() if detail[c] != v}
            if wrong:
                failures.append(f"{case.name}: loaded with wrong values (expected, actual) {wrong!r:.300}")
        elif end == "quarantine" and not any(case.field in reason for reason in detail):
            failures.append(f"{case.name}: quarantined, but no reason names {case.field}: {detail!r:.300}")
        elif end == "skip" and not any(reason.startswith(case.reason) for reason in detail):
            failures.append(f"{case.name}: skipped, but not for {case.reason}: {detail!r:.300}")
    for group, members in groups.items():
        ends = sorted(end for _, end, _ in members)
        reasons = [d for case, end, d in members if end == "skip"]
        if ends != ["load"] + ["skip"] * (len(members) - 1) or not all(
                any(r.startswith(members[0][0].reason) for r in detail) for detail in reasons):
            failures.append(f"group {group}: expected one load and the rest skipped as {members[0][0].reason}, "
                            f"ended {[(c.name, e, d if e != 'load' else 'row') for c, e, d in members]!r:.400}")
    return failures


def _snapshot(stack: FaultStack, table: str) -> list[tuple[Any, ...]]:
    rows = stack.marketing(f"SELECT * FROM {table}")  # noqa: S608 - a fixed table name
    return sorted((tuple((k, v) for k, v in sorted(r.items()) if k not in VOLATILE) for r in rows), key=repr)
