"""Seeded activities (Task, Event) and the marketing fields of Leads and Contacts.

Each uses its own random stream, so the objects seeded before them keep exactly the data they
had. Volumes for N Contacts: Tasks N/2, Events N/10. Dirt at fixed rates: Tasks without a
``WhoId`` (~10%), overdue open Tasks, e-mail Tasks with ``Email:`` subjects, activities in the
recycle bin (~1%), activities on deleted people; bounced e-mails (~2% of the people with one),
a free-text ``Lead_Source_Detail__c`` on ~35% of the people with a LeadSource (with stray case
and whitespace in ~10% of them, and placeholders such as ``N/A``), and multi-line descriptions
on ~15%.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from emulator.ids import IdFactory
from emulator.store import quote_ident

TASK_SUBJECTS = ("Call", "Follow up", "Send quote", "Email: Re: pricing", "Email: Welcome aboard", "Demo prep",
                 "Check in after webinar", "Renewal reminder", "Left voicemail", "Intro call — Zoë")
EVENT_SUBJECTS = ("Meeting", "Product demo", "Quarterly review", "Lunch", "Webinar: what's new", "Onsite visit")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Completed", "Completed", "Waiting on someone else",
                 "Deferred")
BOUNCE_REASONS = ("550 5.1.1 <{email}>: Recipient address rejected: User unknown", "552 5.2.2 Mailbox full",
                  "554 5.7.1 Message rejected as spam", "DNS lookup failed: domain not found",
                  "550 5.7.1 Delivery not authorized, message refused", "421 4.4.2 Connection timed out")
SOURCE_DETAILS = ("Google Ads - brand", "Google Ads - generic", "LinkedIn sponsored post", "Webinar 2024-03",
                  "Trade show: Dreamforce", "Partner: Acme Consulting", "Newsletter signup", "G2 review page",
                  "Referral from customer", "Cold call list Q2")
SOURCE_DIRT = ("N/A", "-", "unknown", "google ads ", " LINKEDIN", "webinar")
DESCRIPTIONS = ("Met at the booth; interested in the Pro plan.\nAsked for a follow-up in Q3.",
                "Prefers email. Do not call before 10am.", "Budget approved — waiting on legal.\n\nSee notes.",
                "Imported from legacy CRM (2019).", "Duplicate? Check against the Müller account.",
                "Champion left the company; find a new contact.")


_START = datetime(2022, 1, 1)
_DAYS = 1096
_DAY_TEXT = [(_START + timedelta(days=i)).date().isoformat() for i in range(_DAYS)]
_DAY_INDEX = {text: i for i, text in enumerate(_DAY_TEXT)}


def _stamp(rng: random.Random, day: int) -> str:
    second = int(rng.random() * 86400)
    return (f"{_DAY_TEXT[min(day, _DAYS - 1)]}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}."
            f"{int(rng.random() * 1000):03d}Z")


def _after(rng: random.Random, stamp: str, max_days: int) -> tuple[str, int]:
    """A stamp up to ``max_days`` days after ``stamp`` (at most 2024-12-31), and its day number."""
    day = _DAY_INDEX.get(stamp[:10], 0) + int(rng.random() * max_days)
    day = min(day, _DAYS - 1)
    later = _stamp(rng, day)
    return (later, day) if later >= stamp else (stamp, day)


def _seed_day(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp[:19])


def _later(rng: random.Random, stamp: str, max_days: int = 120) -> str:
    moment = _seed_day(stamp) + timedelta(days=rng.random() * max_days)
    moment = min(moment, datetime(2024, 12, 31, 23, 0))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(rng.random() * 1000):03d}Z"


def _people(conn: sqlite3.Connection, name: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT Id, IsDeleted, CreatedDate, OwnerId FROM {quote_ident(name)} ORDER BY rid").fetchall()


def activities(conn: sqlite3.Connection, seed: int, counts: dict[str, int], users: list[str]) -> dict[str, int]:
    """Insert the seeded Tasks and Events (after Contacts, Leads, Accounts, Opportunities exist)."""
    contacts, leads = _people(conn, "Contact"), _people(conn, "Lead")
    whats = [r[0] for r in conn.execute('SELECT Id FROM "Account" ORDER BY rid LIMIT 50000')]
    whats += [r[0] for r in conn.execute('SELECT Id FROM "Opportunity" ORDER BY rid LIMIT 20000')]
    made = {"Task": 0, "Event": 0}
    if not (contacts or leads):
        return made
    for obj, total in (("Task", counts.get("Task", 0)), ("Event", counts.get("Event", 0))):
        rng = random.Random(f"{seed}:{obj}")
        rows = _task_rows(rng, total, contacts, leads, whats, users) if obj == "Task" else \
            _event_rows(rng, total, contacts, leads, whats, users)
        cols = _TASK_COLS if obj == "Task" else _EVENT_COLS
        conn.executemany(f"INSERT INTO {quote_ident(obj)} ({', '.join(quote_ident(c) for c in cols)}) VALUES "
                         f"({', '.join('?' for _ in cols)})", rows)
        made[obj] = total
    return made


_SYSTEM = ("IsDeleted", "_DeletedDate", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
           "SystemModstamp")
_TASK_COLS = ("rid", "Id", "OwnerId", "WhoId", "WhatId", "Subject", "ActivityDate", "Status", "Priority", "Type",
              "TaskSubtype", "Description", "IsClosed", "CallDurationInSeconds", *_SYSTEM)
_EVENT_COLS = ("rid", "Id", "OwnerId", "WhoId", "WhatId", "Subject", "StartDateTime", "EndDateTime",
               "DurationInMinutes", "ActivityDate", "IsAllDayEvent", "Location", "Type", "Description", *_SYSTEM)


def _who(rng: random.Random, contacts: list[tuple[Any, ...]], leads: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    pool = contacts if (not leads or (contacts and rng.random() < 0.7)) else leads
    return pool[int(rng.random() * len(pool))]


def _task_rows(rng: random.Random, total: int, contacts: list[tuple[Any, ...]], leads: list[tuple[Any, ...]],
               whats: list[str], users: list[str]) -> Iterator[tuple[Any, ...]]:
    make = IdFactory("00T")
    for rid in range(1, total + 1):
        person = _who(rng, contacts, leads)
        created, _day = _after(rng, person[2], 400)
        modified, _day = _after(rng, created, 30)
        subject = TASK_SUBJECTS[int(rng.random() * len(TASK_SUBJECTS))]
        status = TASK_STATUSES[int(rng.random() * len(TASK_STATUSES))]
        is_email = subject.startswith("Email:")
        deleted = rng.random() < 0.01
        who = None if rng.random() < 0.10 else person[0]
        what = whats[int(rng.random() * len(whats))] if whats and rng.random() < 0.4 else None
        yield (rid, make(rid), person[3], who, what, subject, created[:10] if rng.random() < 0.9 else None, status,
               "High" if rng.random() < 0.15 else "Normal", "Email" if is_email else ("Call" if "call" in
                                                                                       subject.lower() else "Other"),
               "Email" if is_email else "Task", DESCRIPTIONS[rid % len(DESCRIPTIONS)] if rng.random() < 0.2 else None,
               int(status == "Completed"), int(rng.random() * 900) if "call" in subject.lower() else None,
               int(deleted), modified if deleted else None, created, users[rid % len(users)], modified,
               users[(rid * 7) % len(users)], modified)


def _event_rows(rng: random.Random, total: int, contacts: list[tuple[Any, ...]], leads: list[tuple[Any, ...]],
                whats: list[str], users: list[str]) -> Iterator[tuple[Any, ...]]:
    make = IdFactory("00U")
    for rid in range(1, total + 1):
        person = _who(rng, contacts, leads)
        created, day = _after(rng, person[2], 400)
        start_day = min(day + int(rng.random() * 20), _DAYS - 1)
        all_day = rng.random() < 0.1
        minutes = 1440 if all_day else (30, 45, 60, 60, 90)[int(rng.random() * 5)]
        first = 0 if all_day else (8 * 60 + 30 * int(rng.random() * 18))
        start = _START + timedelta(days=start_day, minutes=first)
        end = start + timedelta(minutes=minutes)
        deleted = rng.random() < 0.01
        modified, _day = _after(rng, created, 10)
        yield (rid, make(rid), person[3], person[0] if rng.random() < 0.95 else None,
               whats[int(rng.random() * len(whats))] if whats and rng.random() < 0.3 else None,
               EVENT_SUBJECTS[int(rng.random() * len(EVENT_SUBJECTS))], start.strftime("%Y-%m-%dT%H:%M:00.000Z"),
               end.strftime("%Y-%m-%dT%H:%M:00.000Z"), minutes, start.date().isoformat(), int(all_day),
               ("Zoom", "Office", "Customer site", None)[int(rng.random() * 4)], "Meeting",
               DESCRIPTIONS[rid % len(DESCRIPTIONS)] if rng.random() < 0.1 else None,
               int(deleted), modified if deleted else None, created, users[rid % len(users)], modified,
               users[(rid * 7) % len(users)], modified)


def marketing_fields(conn: sqlite3.Connection, seed: int) -> None:
    """Fill bounce, lead-source detail and description fields on the seeded Leads and Contacts."""
    for obj in ("Contact", "Lead"):
        rng = random.Random(f"{seed}:{obj}:marketing")
        rand = rng.random
        updates = []
        for rid, email, source, created in conn.execute(
                f"SELECT rid, Email, LeadSource, CreatedDate FROM {quote_ident(obj)} ORDER BY rid"):
            bounced_date = bounced_reason = detail = description = None
            if email and rand() < 0.02:
                bounced_date = _later(rng, created, 300)
                bounced_reason = BOUNCE_REASONS[int(rand() * len(BOUNCE_REASONS))].format(email=email.strip())
            if source and rand() < 0.35:
                dirty = rand() < 0.10
                pool = SOURCE_DIRT if dirty else SOURCE_DETAILS
                detail = pool[int(rand() * len(pool))]
            if rand() < 0.15:
                description = DESCRIPTIONS[int(rand() * len(DESCRIPTIONS))]
            if bounced_date or detail or description:
                updates.append((bounced_date, bounced_reason, detail, description, rid))
        conn.executemany(f"UPDATE {quote_ident(obj)} SET EmailBouncedDate = ?, EmailBouncedReason = ?, "
                         "Lead_Source_Detail__c = ?, Description = ? WHERE rid = ?", updates)
