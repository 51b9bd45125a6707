"""What one Salesforce record says about marketing activity: one event, or a person's day.

A `Unit` is one record to upsert: its external id (`<prefix>:event:<activity id>` or
`<prefix>:day:<person id>:<date>`: the two modes never collide, and the marketing database's
own prefix keeps another database's, or a rebuilt one's, ids apart), the person's record it belongs
to (the Contact when linked, else the Lead), the activity rows it settles, and its values
by content key (activity.yaml `fields:` turns them into Salesforce field names).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_sync.activity.config import ActivityConfig
from crm_sync.salesforce.ids import is_salesforce_id

#: Per kind: (what one is called in a subject, singular and plural in a summary).
KINDS: dict[str, tuple[str, str, str]] = {
    "email_send": ("Email sent", "email sent", "emails sent"),
    "email_open": ("Email opened", "email open", "email opens"),
    "email_click": ("Email link clicked", "email click", "email clicks"),
    "form_fill": ("Form filled in", "form fill", "form fills"),
    "visit": ("Website visit", "visit", "visits"),
}
_SUBJECT_MAX = 255
_DESCRIPTION_LINES = 50


@dataclass
class Unit:
    """One Salesforce record to write, and what became of it."""

    key: str
    person_id: int
    activity_ids: list[int]
    content: dict[str, str] = field(default_factory=dict)
    who: tuple[str, str] | None = None  # (Contact or Lead, its Id)
    skip: str | None = None  # no_person | archived | waiting_for_salesforce_record
    outcome: str | None = None  # created | updated | failed | deferred | skipped
    sf_id: str | None = None
    reason: str | None = None
    error: str | None = None
    attempts: int = 0
    job_ids: list[str] = field(default_factory=list)

    def row(self, config: ActivityConfig) -> dict[str, str]:
        """The CSV row of the upsert: external id, person lookup, mapped content, constants."""
        assert self.who is not None
        values = {config.external_id: self.key, config.who[self.who[0]]: self.who[1]}  # type: ignore[index]
        values |= {name: self.content.get(part, "") for part, name in config.fields.items()}
        return values | config.values


def _who(row: dict[str, Any], config: ActivityConfig) -> tuple[str | None, tuple[str, str] | None]:
    """(skip reason, the person's record): the Contact when linked and configured, else the Lead."""
    if not row["person_exists"]:
        return "no_person", None
    if row["archived"]:
        return "archived", None
    for object_name, column in (("Contact", "contact_sf_id"), ("Lead", "lead_sf_id")):
        sf_id = row[column]
        if object_name in config.who and sf_id and is_salesforce_id(sf_id):
            return None, (object_name, sf_id)
    return "waiting_for_salesforce_record", None


def _subtype(kinds: list[str]) -> str:
    return "Email" if all(k.startswith("email_") for k in kinds) else "Task"


def _at(moment: datetime, config: ActivityConfig) -> datetime:
    return moment.astimezone(config.zone)


def event_unit(row: dict[str, Any], config: ActivityConfig, prefix: str) -> Unit:
    """The record of one activity row (per_event mode)."""
    skip, who = _who(row, config)
    unit = Unit(f"{prefix}:event:{row['id']}", row["person_id"], [row["id"]], who=who, skip=skip)
    if skip:
        return unit
    title = KINDS[row["kind"]][0]
    at = _at(row["occurred_at"], config)
    lines = [f"{title}: {row['subject']}" if row["subject"] else title,
             *([f"Campaign: {row['campaign']}"] if row["campaign"] else []),
             *([f"Detail: {row['detail']}"] if row["detail"] else []),
             f"At: {at:%Y-%m-%d %H:%M %Z}", f"From the marketing database (activity {row['id']})."]
    unit.content = {"subject": lines[0][:_SUBJECT_MAX], "date": at.date().isoformat(),
                    "occurred_at": at.isoformat(), "description": "\n".join(lines),
                    "subtype": _subtype([row["kind"]]), "kind": row["kind"], "campaign": row["campaign"] or ""}
    return unit


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {KINDS[k][1] if n == 1 else KINDS[k][2]}" for k, n in
                     sorted(counts.items(), key=lambda kv: list(KINDS).index(kv[0])))


def day_unit(row: dict[str, Any], config: ActivityConfig, prefix: str) -> Unit:
    """The summary record of one person's day (daily_summary mode), over all of the day's activity."""
    skip, who = _who(row, config)
    day: date = row["day"]
    unit = Unit(f"{prefix}:day:{row['person_id']}:{day.isoformat()}", row["person_id"], list(row["pending_ids"] or []),
                who=who, skip=skip)
    if skip:
        return unit
    kinds: list[str] = row["kinds"]
    counts = Counter(kinds)
    campaigns = sorted({c for c in row["campaigns"] if c})
    events = [f"{_at(t, config):%H:%M} {KINDS[k][0]}" + (f": {s}" if s else "")
              for t, k, s in zip(row["times"], kinds, row["subjects"], strict=True)]
    shown = events[-_DESCRIPTION_LINES:]
    lines = [f"Marketing activity on {day.isoformat()} ({config.timezone}): {_counted(counts)}.",
             *([f"Campaigns: {', '.join(campaigns)}"] if campaigns else []), "",
             *([f"... {len(events) - len(shown)} earlier"] if len(shown) < len(events) else []), *shown,
             "", f"From the marketing database (person {row['person_id']}, {len(kinds)} activities)."]
    unit.content = {"subject": f"Marketing activity {day.isoformat()}: {_counted(counts)}"[:_SUBJECT_MAX],
                    "date": day.isoformat(), "occurred_at": _at(max(row["times"]), config).isoformat(),
                    "description": "\n".join(lines), "subtype": _subtype(kinds), "kind": "daily_summary",
                    "campaign": ", ".join(campaigns)}
    return unit
