"""A hard bounce travels both ways, like an opt-out, and sticks (`set_wins`).

dag.test() of the differentials and crm_writeback against PostgreSQL, the emulator over HTTPS
and Great Expectations. A person here has a Lead and a Contact with the same email; the
bounce is `EmailBouncedDate` / `EmailBouncedReason` in Salesforce and `hard_bounced_at` /
`bounce_reason` in marketing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.dags.test_opt_out_propagation import _assert_quiet_cycle, _person_with_lead_and_contact
from tests.dags.test_writeback import (  # noqa: F401  (synced is a fixture)
    edit,
    results,
    run_differentials,
    run_writeback,
    synced,
)

BOUNCED_AT = datetime(2030, 3, 4, 5, 6, 7, tzinfo=UTC)
REASON = "550 5.1.1 The email account does not exist"


def _bounces(stack, person: dict[str, Any]) -> tuple[tuple[Any, Any], ...]:
    """((Lead date, reason), (Contact date, reason), (marketing date, reason)), dates as datetimes."""
    [row] = stack.marketing("SELECT hard_bounced_at, bounce_reason FROM people WHERE id = %s", person["id"])
    found = []
    for object_name, sf_id in (("Lead", person["lead_sf_id"]), ("Contact", person["contact_sf_id"])):
        record = stack.admin.get(object_name, sf_id)
        stamp = record["EmailBouncedDate"]
        found.append((datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None,
                      record["EmailBouncedReason"]))
    return (*found, (row["hard_bounced_at"], row["bounce_reason"]))


def test_a_bounce_in_salesforce_reaches_marketing_and_the_other_record(synced) -> None:  # noqa: F811
    person = _person_with_lead_and_contact(synced, "bounce-crm")
    synced.admin.update("Contact", person["contact_sf_id"], {"EmailBouncedDate": "2030-03-04T05:06:07.000Z",
                                                             "EmailBouncedReason": REASON})
    time.sleep(0.05)
    run_differentials(synced)
    assert _bounces(synced, person) == ((None, None), (BOUNCED_AT, REASON), (BOUNCED_AT, REASON))
    # The inbound load queued the person: its Lead lacks the bounce.
    assert synced.marketing("SELECT fields FROM crm_outbox WHERE tbl = 'people' AND row_id = %s",
                            person["id"]) == [{"fields": ["bounce_reason", "hard_bounced_at"]}]
    dag_run = run_writeback()
    assert _bounces(synced, person) == ((BOUNCED_AT, REASON),) * 3
    written = {(r["object"], r["sf_id"]): (r["outcome"], r["written"]) for r in results(synced, dag_run)}
    assert written[("Lead", person["lead_sf_id"])] == ("updated", ["EmailBouncedDate", "EmailBouncedReason"])
    _assert_quiet_cycle(synced)
    assert _bounces(synced, person) == ((BOUNCED_AT, REASON),) * 3


def test_a_bounce_recorded_in_marketing_reaches_both_records_and_sticks(synced) -> None:  # noqa: F811
    person = _person_with_lead_and_contact(synced, "bounce-marketing")
    edit(synced, "UPDATE people SET hard_bounced_at = %s, bounce_reason = %s WHERE id = %s",
         BOUNCED_AT, REASON, person["id"])
    dag_run = run_writeback()
    assert _bounces(synced, person) == ((BOUNCED_AT, REASON),) * 3
    written = {(r["object"], r["sf_id"]): (r["outcome"], r["written"]) for r in results(synced, dag_run)}
    assert written == {(o, person[f"{o.lower()}_sf_id"]): ("updated", ["EmailBouncedDate", "EmailBouncedReason"])
                       for o in ("Lead", "Contact")}
    _assert_quiet_cycle(synced)

    # Clearing it on the marketing side alone is not written: Salesforce still has the bounce,
    # and the person gets it back.
    edit(synced, "UPDATE people SET hard_bounced_at = NULL, bounce_reason = NULL WHERE id = %s", person["id"])
    dag_run = run_writeback()
    assert {r["outcome"] for r in results(synced, dag_run)} <= {"skipped"}
    assert all(r["written"] == [] for r in results(synced, dag_run))
    assert _bounces(synced, person) == ((BOUNCED_AT, REASON),) * 3
    # Reading the records back queued the person once more (the load cannot tell a restore
    # from a record that lacks the bounce, as for the opt-out): one write of the same values
    # settles it, then the cycles are quiet.
    run_differentials(synced)
    settling = results(synced, run_writeback())
    assert {f for r in settling for f in r["written"]} <= {"EmailBouncedDate", "EmailBouncedReason"}
    _assert_quiet_cycle(synced)
    assert _bounces(synced, person) == ((BOUNCED_AT, REASON),) * 3
