"""The change generator: an hour of CRM activity, applied with server timestamps.

Each change is one record operation chosen by weight: updates (names, titles, scores, status
picklists, opt-outs, emails, stages), inserts, deletes, undeletes and lead conversions, spread
over the objects; about a sixth of them are activities (Tasks logged, completed, re-prioritised
or deleted; Events booked, rescheduled or cancelled), linked to live Contacts or open Leads
(``WhoId``) and, for Contacts, often to an Account or Opportunity (``WhatId``). Changes are made by random active CRM users (LastModifiedById), in
transactions of a few hundred, so a paged read running meanwhile is never blocked. The result
lists the ids per object and kind of change, plus counts.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.dml import Dml, DmlError, WriteContext
from emulator.names import (
    CITIES,
    COMPANY_FIRST,
    COMPANY_SECOND,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    TITLES,
)
from emulator.schema import LEAD_SOURCES, OBJECTS, OPPORTUNITY_STAGES, ObjectDef
from emulator.store import Store, quote_ident
from emulator.values import format_datetime, parse_datetime

TASK_SUBJECTS = ("Call", "Follow up", "Send quote", "Email: Re: pricing", "Left voicemail", "Demo prep",
                 "Renewal reminder", "Check in after webinar")
EVENT_SUBJECTS = ("Meeting", "Product demo", "Quarterly review", "Lunch", "Onsite visit")
EVENT_LOCATIONS = ("Zoom", "Office", "Customer site", None)

# (weight, object, action)
_PLAN: tuple[tuple[int, str, str], ...] = (
    (28, "Contact", "update"), (14, "Lead", "update"), (9, "Contact", "insert"), (8, "Lead", "insert"),
    (6, "Account", "update"), (2, "Account", "insert"), (6, "Opportunity", "update"), (3, "Opportunity", "insert"),
    (3, "Contact", "delete"), (2, "Lead", "delete"), (2, "Contact", "undelete"), (1, "Lead", "undelete"),
    (5, "Lead", "convert"), (3, "Subscription__c", "update"), (2, "Subscription__c", "insert"),
    (2, "CampaignMember", "insert"), (2, "Campaign", "update"), (2, "Opportunity", "delete"),
    (8, "Task", "insert"), (6, "Task", "update"), (1, "Task", "delete"),
    (3, "Event", "insert"), (2, "Event", "update"), (1, "Event", "delete"),
)
TRANSACTION_SIZE = 250


class ChangeGenerator:
    """Applies random but reproducible changes to the org.

    Args:
        store: The org database.
        dml: The write layer (validation, stamps).
    """

    def __init__(self, store: Store, dml: Dml) -> None:
        self.store = store
        self.dml = dml

    def run(self, changes: int = 100, seed: int | None = None) -> dict[str, Any]:
        """Apply ``changes`` changes; the same seed on the same org makes the same changes.

        Returns:
            ``{"<Object>": {"<kind>": [ids]}, "counts": {"<Object>": {"<kind>": n}}, "total": n,
            "seed": s, "started": ts, "finished": ts}`` where kinds are ``updated``, ``inserted``,
            ``deleted``, ``undeleted`` and ``converted``.
        """
        if seed is None:
            runs = int(self.store.get_meta("mutate_runs", 0) or 0)
            seed = 1_000_003 * (runs + 1)
            self.store.set_meta("mutate_runs", runs + 1)
        rng = random.Random(f"mutate:{seed}")
        weights = [w for w, _o, _a in _PLAN]
        users = [r[0] for r in self.store.conn().execute("SELECT Id FROM User WHERE IsActive = 1 AND rid > 1 ORDER BY rid")]
        touched: dict[str, list[str]] = {}
        started = format_datetime(datetime.now(UTC))
        applied = 0
        attempts = 0
        while applied < changes and attempts < changes * 20:
            with self.store.write() as conn:
                budget = min(TRANSACTION_SIZE, changes - applied)
                done_here = 0
                while done_here < budget and attempts < changes * 20:
                    attempts += 1
                    _w, obj_name, action = rng.choices(_PLAN, weights)[0]
                    ctx = WriteContext(rng.choice(users) if users else "", "admin", touched)
                    try:
                        if self._apply(conn, rng, OBJECTS[obj_name], action, ctx):
                            done_here += 1
                    except DmlError:
                        continue
                applied += done_here
            time.sleep(0)  # let readers in between transactions
        finished = format_datetime(datetime.now(UTC))
        result: dict[str, Any] = {}
        counts: dict[str, Counter[str]] = {}
        for key, ids in touched.items():
            obj_name, kind = key.split(":")
            result.setdefault(obj_name, {}).setdefault(kind, []).extend(ids)
            counts.setdefault(obj_name, Counter())[kind] += len(ids)
        result["counts"] = {name: dict(counter) for name, counter in sorted(counts.items())}
        result.update({"total": applied, "seed": seed, "started": started, "finished": finished})
        return result

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _pick(conn: Any, rng: random.Random, obj: ObjectDef, where: str, tries: int = 12) -> dict[str, Any] | None:
        """A random row matching ``where`` (probing random row numbers, then a scan as fallback)."""
        table = quote_ident(obj.name)
        top = conn.execute(f"SELECT MAX(rid) FROM {table}").fetchone()[0] or 0
        if not top:
            return None
        for _ in range(tries):
            rid = 1 + int(rng.random() * top)
            cur = conn.execute(f"SELECT * FROM {table} WHERE rid >= ? AND {where} ORDER BY rid LIMIT 1", (rid,))
            row = cur.fetchone()
            if row is not None:
                return dict(zip([d[0] for d in cur.description], row, strict=True))
        return None

    @staticmethod
    def _email(rng: random.Random, first_ascii: str, last_ascii: str) -> str:
        tag = int(rng.random() * 10**8)
        email = f"{first_ascii}.{last_ascii}.{tag}@{rng.choice(EMAIL_DOMAINS)}"
        roll = rng.random()
        if roll < 0.05:
            return email.upper()
        if roll < 0.08:
            return f" {email}"
        return email

    def _apply(self, conn: Any, rng: random.Random, obj: ObjectDef, action: str, ctx: WriteContext) -> bool:
        dml = self.dml
        if action == "insert":
            dml.insert(conn, obj, self._new_values(conn, rng, obj), ctx)
            return True
        if action == "undelete":
            row = self._pick(conn, rng, obj, "IsDeleted = 1", tries=4)
            if row is None:
                return False
            dml.undelete(conn, obj, row["Id"], ctx)
            return True
        if action == "convert":
            row = self._pick(conn, rng, obj, "IsDeleted = 0 AND IsConverted = 0")
            if row is None:
                return False
            existing = None
            if row["Email"]:
                existing = conn.execute("SELECT Id FROM Contact WHERE Email = ? AND IsDeleted = 0 LIMIT 1",
                                        (row["Email"],)).fetchone()
            dml.convert_lead(conn, row["Id"], ctx, contact_id=existing[0] if existing else None)
            return True
        extra = " AND IsConverted = 0" if obj.name == "Lead" else ""
        row = self._pick(conn, rng, obj, "IsDeleted = 0" + extra)
        if row is None:
            return False
        if action == "delete":
            dml.delete(conn, obj, row["Id"], ctx)
            return True
        dml.update(conn, obj, row["Id"], self._changes(rng, obj, row), ctx)
        return True

    def _changes(self, rng: random.Random, obj: ObjectDef, row: dict[str, Any]) -> dict[str, Any]:
        name = obj.name
        now = datetime.now(UTC)
        if name in ("Contact", "Lead"):
            kind = rng.choices(("title", "last_name", "score", "status", "opt_out", "email", "visit", "phone"),
                               (15, 5, 25, 15, 10, 10, 15, 5))[0]
            if kind == "title":
                return {"Title": rng.choice(TITLES)}
            if kind == "last_name":
                return {"LastName": rng.choice(LAST_NAMES)[0]}
            if kind == "score":
                return {"Lead_Score__c": float(int(rng.random() * 101)), "Last_Visit__c": format_datetime(now)}
            if kind == "status":
                changes: dict[str, Any] = {"Status__c": rng.choice(("1", "2", "3", "4"))}
                if name == "Lead":
                    changes["Status"] = rng.choice(("Working - Contacted", "Closed - Not Converted",
                                                    "Open - Not Contacted"))
                return changes
            if kind == "opt_out":
                return {"HasOptedOutOfEmail": not row.get("HasOptedOutOfEmail")}
            if kind == "email":
                first = rng.choice(FIRST_NAMES)[1]
                last = rng.choice(LAST_NAMES)[1]
                return {"Email": self._email(rng, first, last).strip().lower()}
            if kind == "visit":
                return {"Last_Visit__c": format_datetime(now - timedelta(minutes=int(rng.random() * 60)))}
            return {"Phone": f"+{1 + int(rng.random() * 98)} {int(rng.random() * 1000):03d} "
                             f"{int(rng.random() * 10**7):07d}"}
        if name == "Account":
            return rng.choice(({"Phone": f"+1 {200 + int(rng.random() * 799)} 555 {int(rng.random() * 10000):04d}"},
                               {"NumberOfEmployees": 1 + int(rng.random() * 5000)},
                               {"AnnualRevenue": float(round(10 ** (4 + rng.random() * 5)))},
                               {"Type": rng.choice(("Prospect", "Customer - Direct", "Customer - Channel"))}))
        if name == "Opportunity":
            stage = rng.choice(OPPORTUNITY_STAGES)
            return {"StageName": stage.value, "Amount": round(rng.random() * 250000, 2)}
        if name == "Subscription__c":
            return rng.choice(({"Status__c": "Cancelled"}, {"Plan__c": rng.choice(("Free", "Pro", "Enterprise"))},
                               {"Amount__c": float(rng.choice((0, 29, 58, 299)))}))
        if name == "Campaign":
            return {"Status": rng.choice(("Planned", "In Progress", "Completed")),
                    "ActualCost": float(round(rng.random() * 40000, -1))}
        if name == "Task":
            return rng.choice(({"Status": "Completed"}, {"Status": rng.choice(("In Progress", "Deferred"))},
                               {"Priority": rng.choice(("High", "Normal", "Low"))},
                               {"ActivityDate": (now.date() + timedelta(days=1 + int(rng.random() * 14))).isoformat()},
                               {"Description": f"Spoke on {now.date().isoformat()}; next step agreed."}))
        if name == "Event":
            if rng.random() < 0.3:
                return {"Location": rng.choice(EVENT_LOCATIONS)}
            return self._event_times(rng, now, row)
        return {}

    @staticmethod
    def _event_times(rng: random.Random, now: datetime, row: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start and end of a meeting in the next two weeks (a reschedule keeps its length)."""
        minutes = rng.choice((30, 45, 60, 60, 90))
        if row is not None and row.get("StartDateTime") and row.get("EndDateTime"):
            first, last = parse_datetime(row["StartDateTime"]), parse_datetime(row["EndDateTime"])
            if first is not None and last is not None:
                minutes = int((last[0] - first[0]).total_seconds() // 60)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1 + int(rng.random() * 14))
        start = day if minutes >= 1440 else day + timedelta(minutes=8 * 60 + 30 * int(rng.random() * 18))
        return {"StartDateTime": format_datetime(start), "EndDateTime": format_datetime(start + timedelta(minutes=minutes))}

    def _activity_links(self, conn: Any, rng: random.Random, what_share: float) -> dict[str, Any]:
        """``WhoId`` (a live Contact 70%, an open Lead 30%) and, for Contacts, sometimes a ``WhatId``."""
        on_contact = rng.random() < 0.7
        who = self._pick(conn, rng, OBJECTS["Contact" if on_contact else "Lead"],
                         "IsDeleted = 0" if on_contact else "IsDeleted = 0 AND IsConverted = 0")
        links: dict[str, Any] = {"WhoId": who["Id"] if who else None}
        if who is not None and on_contact and rng.random() < what_share:  # Leads take no WhatId on Salesforce
            links["WhatId"] = self._random_id(conn, rng, "Account" if rng.random() < 0.6 else "Opportunity")
        return links

    def _random_id(self, conn: Any, rng: random.Random, obj_name: str) -> str | None:
        row = self._pick(conn, rng, OBJECTS[obj_name], "IsDeleted = 0", tries=6)
        return row["Id"] if row else None

    def _new_values(self, conn: Any, rng: random.Random, obj: ObjectDef) -> dict[str, Any]:
        name = obj.name
        today = datetime.now(UTC).date()
        if name in ("Contact", "Lead"):
            first, fa = rng.choice(FIRST_NAMES)
            last, la = rng.choice(LAST_NAMES)
            city, country = rng.choice(CITIES)
            values: dict[str, Any] = {
                "FirstName": first, "LastName": last, "Title": rng.choice(TITLES), "Phone": None,
                "LeadSource": rng.choice([p.value for p in LEAD_SOURCES if p.active]),
                "Status__c": rng.choice(("1", "2")), "Lead_Score__c": float(int(rng.random() * 40)),
                "Last_Visit__c": format_datetime(datetime.now(UTC)),
            }
            if rng.random() > 0.03:
                values["Email"] = self._email(rng, fa, la).strip()
            if name == "Contact":
                values.update({"AccountId": self._random_id(conn, rng, "Account"), "MailingCity": city,
                               "MailingCountry": country})
            else:
                values["Company"] = f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_SECOND)}"
            return values
        if name == "Account":
            top = conn.execute("SELECT MAX(rid) FROM Account").fetchone()[0] or 0
            return {"Name": f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_SECOND)} {top + 1}",
                    "Type": "Prospect", "External_Id__c": f"EXT-{top + 1:08d}",
                    "BillingCity": rng.choice(CITIES)[0]}
        if name == "Opportunity":
            return {"Name": f"{rng.choice(COMPANY_FIRST)} - New Business", "StageName": "Prospecting",
                    "CloseDate": (today + timedelta(days=30 + int(rng.random() * 90))).isoformat(),
                    "Amount": round(rng.random() * 100000, 2), "AccountId": self._random_id(conn, rng, "Account")}
        if name == "Subscription__c":
            return {"Contact__c": self._random_id(conn, rng, "Contact"), "Plan__c": "Pro", "Status__c": "Active",
                    "Start_Date__c": today.isoformat(), "Amount__c": 29.0}
        if name == "CampaignMember":
            campaign = self._random_id(conn, rng, "Campaign")
            contact = self._random_id(conn, rng, "Contact")
            return {"CampaignId": campaign, "ContactId": contact, "Status": "Sent"}
        if name == "Task":
            subject = rng.choice(TASK_SUBJECTS)
            is_email, is_call = subject.startswith("Email:"), "call" in subject.lower() or "voicemail" in subject
            status = rng.choice(("Not Started", "Not Started", "In Progress", "Completed"))
            return {**self._activity_links(conn, rng, 0.4), "Subject": subject, "Status": status,
                    "Priority": "High" if rng.random() < 0.15 else "Normal",
                    "ActivityDate": (today + timedelta(days=int(rng.random() * 10))).isoformat(),
                    "Type": "Email" if is_email else ("Call" if is_call else "Other"),
                    "TaskSubtype": "Email" if is_email else ("Call" if is_call else "Task"),
                    "CallDurationInSeconds": int(rng.random() * 900) if is_call and status == "Completed" else None}
        if name == "Event":
            now = datetime.now(UTC)
            all_day = rng.random() < 0.1
            times = self._event_times(rng, now, {"StartDateTime": "2000-01-01T00:00:00.000Z",
                                                 "EndDateTime": "2000-01-02T00:00:00.000Z"} if all_day else None)
            return {**self._activity_links(conn, rng, 0.3), "Subject": rng.choice(EVENT_SUBJECTS), **times,
                    "IsAllDayEvent": all_day, "Location": rng.choice(EVENT_LOCATIONS), "Type": "Meeting"}
        return {}

