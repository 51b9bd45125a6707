"""Simulated marketing activity for the demo: what a marketing platform does in an hour.

Scores change and visits happen for some people, a few unsubscribe, forms capture a few new
people (one with a broken email, which Salesforce will reject), and someone edits a
Salesforce-owned name in the marketing tool (refused: the name is a locked field; with
`CRM_LOCKED_FIELDS=off` the write-back overwrites it from Salesforce instead).
The activity behind it lands in `marketing_activities` (visits, newsletter sends, opens and
clicks, the form fills), which the write-back turns into Salesforce Tasks.
Plain SQL on the marketing database, as a marketing app would write it: change tracking
picks it all up.
"""

from __future__ import annotations

import random
import time
from typing import Any

import psycopg


def simulate_marketing_activity(conn: psycopg.Connection, *, scores: int = 25, unsubscribes: int = 5,
                                new_people: int = 3, name_edits: int = 2, newsletter: int = 10,
                                seed: int | None = None) -> dict[str, int]:
    """Make the changes in one transaction; returns how many of each kind it made."""
    rng = random.Random(seed)
    people = [row[0] for row in conn.execute(
        "SELECT id FROM people WHERE archived_at IS NULL AND (contact_sf_id IS NOT NULL OR lead_sf_id IS NOT NULL)"
        " ORDER BY id")]
    picked = rng.sample(people, min(len(people), scores + unsubscribes + name_edits))
    scored, unsubscribed, renamed = (picked[:scores], picked[scores:scores + unsubscribes],
                                     picked[scores + unsubscribes:])
    with conn.transaction():
        for person in scored:
            conn.execute("UPDATE people SET lead_score = %s, last_visit_at = now() - make_interval(mins => %s)"
                         " WHERE id = %s", (rng.randint(0, 100), rng.randint(0, 59), person))
        conn.execute("UPDATE people SET unsubscribed = true WHERE id = ANY(%s)", (unsubscribed,))
        refused = 0
        try:
            with conn.transaction():  # a savepoint: a locked field refuses the edit
                conn.execute("UPDATE people SET first_name = 'Edited in marketing' WHERE id = ANY(%s)", (renamed,))
        except psycopg.errors.InsufficientPrivilege:
            refused = len(renamed)
        stamp = int(time.time())
        rows: list[tuple[Any, ...]] = [
            (f"form.{stamp}.{n}@example.org", "Form", f"Visitor {n}", rng.randint(10, 60)) for n in range(new_people)]
        if new_people:
            rows[-1] = (f"broken.{stamp}@@example", "Broken", "Email", 5)  # Salesforce refuses this address
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO people (email, first_name, last_name, lead_score) VALUES (%s, %s, %s, %s)",
                            rows)
            activity = _activity(conn, rng, scored, people, [row[0] for row in rows], newsletter)
            cur.executemany("INSERT INTO marketing_activities (person_id, kind, occurred_at, subject, campaign)"
                            " VALUES (%s, %s, now() - make_interval(mins => %s), %s, %s)", activity)
    return {"score changes and visits": len(scored), "unsubscribes": len(unsubscribed), "new people": len(rows),
            "edits of Salesforce-owned names": len(renamed), "of them refused (locked fields)": refused,
            "activities (visits, emails, forms)": len(activity)}


def _activity(conn: psycopg.Connection, rng: random.Random, visitors: list[int], people: list[int],
              new_emails: list[str], newsletter: int) -> list[tuple[Any, ...]]:
    """Activity rows: a visit per visitor, a newsletter (sent, maybe opened and clicked), form fills."""
    rows: list[tuple[Any, ...]] = [(p, "visit", rng.randint(0, 59), "/pricing", None) for p in visitors]
    for person in rng.sample(people, min(len(people), newsletter)):
        for kind in ("email_send", "email_open", "email_click")[:rng.randint(1, 3)]:
            rows.append((person, kind, rng.randint(0, 59), "Monthly newsletter", "Newsletter"))
    new_ids = [r[0] for r in conn.execute("SELECT id FROM people WHERE email = ANY(%s)", (new_emails,))]
    return rows + [(p, "form_fill", 0, "Contact us", "Website") for p in new_ids]
