"""An independent checker: does the marketing database say what Salesforce says?

It reads Salesforce through simple-salesforce ``query_all(include_deleted=True)`` (queryAll)
and the marketing and warehouse databases with plain psycopg, and compares them record by
record from the mapping files' rules. The expected value of every mapped field (trims,
value maps, types, lengths, email shape, Id checksums) is computed here, from the mapping,
the value-map files and Salesforce's describe; none of the sync's transform, validation or
load code is called, and none of its counts is read.

What it asserts, per mapped object:

- every live record that passes the mapping's rules and has a match key is present and
  active in its target table with its mapped values (people: one person per email, the
  Contact's values winning over a Lead's for the columns both load);
- every deleted record (or one outside the mapping's filter) is archived or absent;
- nothing is doubled: one active row per Salesforce Id and per normalised match key, and no
  active row that no live record accounts for;
- every record the rules reject is quarantined with an open row whose reasons name the
  field, every record skipped on purpose has a skip logged with its reason, and no record
  that loads keeps an open quarantine row; an open quarantine row exists once per record and
  reason.

``check`` returns a list of :class:`Drift` items; an empty list means no drift.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from simple_salesforce import Salesforce

from crm_sync.mapping.loader import MappingSet, load_mappings
from crm_sync.mapping.model import ColumnType, FieldMap, ObjectMapping, Transform

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MAPPINGS_DIR = PROJECT_ROOT / "include" / "mappings"

# Blanks a trim removes at both ends (what real data carries: tabs, line breaks, NBSP).
BLANKS = " \t\n\r\f\v\u00a0"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,}}$")
_ID18 = re.compile(r"^[A-Za-z0-9]{18}$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")
INT4 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Drift:
    """One difference between Salesforce and the marketing side."""

    object: str
    record_id: str
    field: str
    expected: Any
    actual: Any
    kind: str  # missing | value | not_archived | doubled | unexpected | not_quarantined | not_skipped | ...

    def __str__(self) -> str:
        return (f"{self.kind}: {self.object} {self.record_id} {self.field}: "
                f"expected {self.expected!r}, found {self.actual!r}")


@dataclass
class Fate:
    """What the rules say must become of one Salesforce record."""

    record: dict[str, Any]
    end: str  # load | quarantine | skip | gone
    values: dict[str, Any] = field(default_factory=dict)  # target column -> expected value
    fields: tuple[str, ...] = ()  # quarantine: the offending columns (any one must be named)
    reason: str = ""  # skip: the reason's prefix

    @property
    def id(self) -> str:
        """The record's Salesforce Id."""
        return str(self.record["Id"])


def valid_id(value: Any) -> bool:
    """True for an 18-character Salesforce Id whose case-safe suffix is right."""
    if not isinstance(value, str) or not _ID18.match(value):
        return False
    suffix = ""
    for chunk in (value[0:5], value[5:10], value[10:15]):
        suffix += _SUFFIX[sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")]
    return value[15:] == suffix


class Rejected(Exception):
    """A field value the rules refuse (the record is to be quarantined)."""


def _text(raw: Any, fm: FieldMap) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    else:
        text = str(raw)
    text = text.replace("\x00", "")  # removed at staging (docs/decisions.md), on both paths
    if fm.transform is Transform.TRIM:
        text = text.strip(BLANKS)
    elif fm.transform is Transform.LOWER_TRIM:
        text = text.strip(BLANKS).lower()
    elif fm.transform is Transform.UPPER_TRIM:
        text = text.strip(BLANKS).upper()
    return text or None


def _number(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise InvalidOperation
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidOperation
        return Decimal(repr(raw))
    if isinstance(raw, int):
        return Decimal(raw)
    value = Decimal(str(raw).strip())
    if not value.is_finite():
        raise InvalidOperation
    return value


def _timestamp(text: str) -> dt.datetime:
    match = _TIMESTAMP.match(text)
    if not match:
        raise ValueError(text)
    day, hour, minute, second, fraction, zone = match.groups()
    base = dt.date.fromisoformat(day)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = dt.UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return dt.datetime(base.year, base.month, base.day, int(hour), int(minute), int(second or 0), micro, tz)


def expected_value(fm: FieldMap, raw: Any, sf_type: str, value_maps: Mapping[str, dict[str, str]]) -> Any:
    """The marketing value of one field, computed from the mapping's rules.

    Raises:
        Rejected: the value breaks a rule (required, type, length, email, value map, Id).
    """
    if fm.type in (ColumnType.NUMERIC, ColumnType.INTEGER) and raw is not None and not isinstance(raw, str):
        value: Any = None
        try:
            number = _number(raw)
        except InvalidOperation:
            raise Rejected(fm.target) from None
        if fm.type is ColumnType.INTEGER:
            if number != number.to_integral_value() or not INT4[0] <= number <= INT4[1]:
                raise Rejected(fm.target)
            value = int(number)
        else:
            value = number
        return value
    if fm.type is ColumnType.BOOLEAN and isinstance(raw, bool):
        return raw
    text = _text(raw, fm)
    if text is None:
        if fm.required:
            raise Rejected(fm.target)
        return None
    if fm.max_length is not None and len(text) > fm.max_length:
        raise Rejected(fm.target)
    if fm.check is not None and not EMAIL.match(text):
        raise Rejected(fm.target)
    if sf_type in ("reference", "id") and not valid_id(text):
        raise Rejected(fm.target)
    if fm.values:
        mapped = value_maps[fm.values].get(text)
        if mapped is None:
            raise Rejected(fm.target)
        return mapped
    try:
        if fm.type is ColumnType.NUMERIC:
            return _number(text)
        if fm.type is ColumnType.INTEGER:
            number = _number(text)
            if number != number.to_integral_value() or not INT4[0] <= number <= INT4[1]:
                raise Rejected(fm.target)
            return int(number)
        if fm.type is ColumnType.BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise Rejected(fm.target)
            return text.lower() == "true"
        if fm.type is ColumnType.DATE:
            return dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _bad(fm)
        if fm.type is ColumnType.TIMESTAMP:
            return _timestamp(text)
    except (InvalidOperation, ValueError):
        raise Rejected(fm.target) from None
    return text


def _bad(fm: FieldMap) -> Any:
    raise Rejected(fm.target)


def _fate(mapping: ObjectMapping, record: dict[str, Any], types: Mapping[str, str],
          value_maps: Mapping[str, dict[str, str]], in_filter: bool) -> Fate:
    if record.get("IsDeleted") or not in_filter:
        return Fate(record, "gone")
    if mapping.match_key != "sf_id" and mapping.on_missing_match_key == "skip":
        key_field = mapping.match_field
        try:
            key = _text(record.get(key_field.source), key_field)
        except Rejected:
            key = "\x00"  # present, but refused below
        if key is None:
            return Fate(record, "skip", reason=f"missing_match_key:{key_field.source}")
    bad: list[str] = []
    if not valid_id(record.get("Id")):
        bad.append("sf_id")
    values: dict[str, Any] = {}
    for fm in mapping.fields:
        try:
            value = expected_value(fm, record.get(fm.source), types.get(fm.source, "string"), value_maps)
        except Rejected:
            bad.append(fm.target)
            continue
        if fm.loads_from_crm:
            values[fm.target] = value
    if bad:
        return Fate(record, "quarantine", fields=tuple(bad))
    if mapping.is_lead and record.get("IsConverted"):
        return Fate(record, "skip", reason="converted_lead", values=values)
    return Fate(record, "load", values=values)


def _normal_key(value: Any) -> Any:
    return value.strip(BLANKS).casefold() if isinstance(value, str) else value


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Decimal) and isinstance(actual, Decimal | int | float):
        return expected == Decimal(str(actual)) if not isinstance(actual, Decimal) else expected == actual
    if isinstance(expected, dt.datetime) and isinstance(actual, dt.datetime):
        return expected == actual
    return bool(expected == actual)


@dataclass
class _Context:
    sf: Salesforce
    marketing: psycopg.Connection
    warehouse: psycopg.Connection
    mappings: MappingSet
    drift: list[Drift] = field(default_factory=list)

    def add(self, obj: str, record_id: str, column: str, expected: Any, actual: Any, kind: str) -> None:
        self.drift.append(Drift(obj, record_id, column, expected, actual, kind))

    def rows(self, conn: psycopg.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()


def _read_salesforce(ctx: _Context, mapping: ObjectMapping) -> tuple[list[dict[str, Any]], set[str], dict[str, str]]:
    describe = getattr(ctx.sf, mapping.object).describe()
    types = {f["name"]: f["type"] for f in describe["fields"]}
    # A to_crm field the org does not have yet is not read by the sync either (it is created
    # by `python -m crm_sync.setup_fields`); the marketing side owns its values.
    names = ["Id", "IsDeleted", "SystemModstamp", *[f.source for f in mapping.fields if f.source in types]]
    if mapping.is_lead:
        names += ["IsConverted", "ConvertedContactId"]
    select = ", ".join(dict.fromkeys(names))
    records = ctx.sf.query_all(f"SELECT {select} FROM {mapping.object}", include_deleted=True)["records"]
    if mapping.filter:
        in_filter = {r["Id"] for r in ctx.sf.query_all(
            f"SELECT Id FROM {mapping.object} WHERE {mapping.filter}")["records"]}
    else:
        in_filter = {r["Id"] for r in records}
    return records, in_filter, types


def _fates(ctx: _Context, mapping: ObjectMapping) -> list[Fate]:
    value_maps = {name: dict(vm.pairs) for name, vm in ctx.mappings.value_maps.items()}
    records, in_filter, types = _read_salesforce(ctx, mapping)
    return [_fate(mapping, r, types, value_maps, r["Id"] in in_filter) for r in records]


def _decide_collisions(fates: list[Fate], key_of: Any, holder_of: Any, reason: str) -> None:
    """Among loadable records sharing a key, one keeps it (the row's holder, else the lowest Id)."""
    groups: dict[Any, list[Fate]] = defaultdict(list)
    for fate in fates:
        key = key_of(fate)
        if fate.end == "load" and key is not None:
            groups[key].append(fate)
    for key, group in groups.items():
        if len(group) < 2:
            continue
        holder = holder_of(key)
        winner = next((f for f in group if f.id == holder), min(group, key=lambda f: f.id))
        for fate in group:
            if fate is not winner:
                fate.end, fate.reason = "skip", reason


def _check_accounting(ctx: _Context, mapping: ObjectMapping, fates: Iterable[Fate]) -> None:
    """Quarantined and skipped records are recorded with their reasons; loaded ones settle."""
    open_rows = ctx.rows(ctx.warehouse, "SELECT sf_id, reasons FROM crm_quarantine.records"
                         " WHERE object = %s AND status = 'open'", mapping.object)
    reasons: dict[str, list[str]] = defaultdict(list)
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for row in open_rows:
        text = "\n".join(row["reasons"])
        reasons[row["sf_id"]].append(text)
        seen[(row["sf_id"], text)] += 1
    for (sf_id, _reason), n in seen.items():
        if n > 1:
            ctx.add(mapping.object, sf_id, "quarantine", 1, n, "doubled_quarantine")
    skips: dict[str, set[str]] = defaultdict(set)
    for row in ctx.rows(ctx.warehouse, "SELECT sf_id, reason FROM crm_sync.skipped s JOIN crm_sync.sync_runs r"
                        " USING (run_id) WHERE r.object = %s", mapping.object):
        skips[row["sf_id"]].add(row["reason"])
    sources = {f.target: f.source for f in mapping.fields}
    for fate in fates:
        if fate.end == "quarantine":
            names = [n.lower() for col in fate.fields for n in (col, sources.get(col, col))]
            names += ["id:"] if "sf_id" in fate.fields else []  # the record's own Id: "Id: '003…' is not …"
            found = reasons.get(fate.id, [])
            if not any(name in text.lower() for text in found for name in names):
                ctx.add(mapping.object, fate.id, ",".join(fate.fields), "open quarantine row naming the field",
                        found or None, "not_quarantined")
        elif fate.end == "load" and fate.id in reasons:
            ctx.add(mapping.object, fate.id, "quarantine", None, reasons[fate.id], "stale_quarantine")
        elif fate.end == "skip" and fate.reason != "converted_lead":
            if not any(reason.startswith(fate.reason) for reason in skips.get(fate.id, ())):
                ctx.add(mapping.object, fate.id, "skip", fate.reason, sorted(skips.get(fate.id, ())) or None,
                        "not_skipped")


def _compare(ctx: _Context, obj: str, record_id: str, expected: Mapping[str, Any], row: Mapping[str, Any]) -> None:
    for column, value in expected.items():
        if not _same(value, row[column]):
            ctx.add(obj, record_id, column, value, row[column], "value")


def _check_records(ctx: _Context, mapping: ObjectMapping) -> None:
    fates = _fates(ctx, mapping)
    rows = ctx.rows(ctx.marketing, f'SELECT * FROM "{mapping.target}"')  # noqa: S608 - a mapping's own table
    by_id = {r["sf_id"]: r for r in rows if r["sf_id"] is not None}
    active = [r for r in rows if r["archived_at"] is None]
    if mapping.match_key != "sf_id":
        key_field = mapping.match_field
        holders = {_normal_key(r[mapping.match_key]): r["sf_id"] for r in active if r[mapping.match_key]}
        _decide_collisions(fates, lambda f: _normal_key(f.values.get(key_field.target)), holders.get,
                           "duplicate_match_key")
        by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in active:
            if row[mapping.match_key] is not None:
                by_key[_normal_key(row[mapping.match_key])].append(row)
        for group in by_key.values():
            if len(group) > 1:
                ctx.add(mapping.object, ",".join(str(r["sf_id"]) for r in group), mapping.match_key, 1,
                        len(group), "doubled")
    loaded = {f.id for f in fates if f.end == "load"}
    for fate in fates:
        row = by_id.get(fate.id)
        if fate.end == "load":
            if row is None or row["archived_at"] is not None:
                ctx.add(mapping.object, fate.id, "row", "active", None if row is None else "archived", "missing")
            else:
                _compare(ctx, mapping.object, fate.id, fate.values, row)
        elif row is not None and row["archived_at"] is None:
            kind = "not_archived" if fate.end == "gone" else f"loaded_but_{fate.end}"
            ctx.add(mapping.object, fate.id, "row", "archived or absent", "active", kind)
    for row in active:
        if row["sf_id"] is None or (row["sf_id"] not in loaded and row["sf_id"] not in {f.id for f in fates}):
            ctx.add(mapping.object, str(row["sf_id"]), "row", "no active row", row.get("name"), "unexpected")
    _check_accounting(ctx, mapping, fates)


def _check_people(ctx: _Context, people: list[ObjectMapping]) -> None:
    rows = ctx.rows(ctx.marketing, "SELECT * FROM people")
    active = [r for r in rows if r["archived_at"] is None]
    link = {m.object: m.person_link.column for m in people}
    by_link = {(obj, r[col]): r for obj, col in link.items() for r in active if r[col] is not None}
    loaded_fields = {m.object: {f.target for f in m.loaded_fields} for m in people}
    shared = set.intersection(*loaded_fields.values()) if len(people) > 1 else set()
    fates_of: dict[str, list[Fate]] = {}
    for mapping in people:
        fates = _fates(ctx, mapping)
        col = link[mapping.object]
        holders = {r["email"]: r[col] for r in active}
        _decide_collisions(fates, lambda f: f.values.get("email"), holders.get, "duplicate_email")
        fates_of[mapping.object] = fates
    wanted: dict[str, dict[str, Fate]] = defaultdict(dict)  # email -> object -> the record it holds
    for obj, fates in fates_of.items():
        for fate in fates:
            if fate.end == "load":
                wanted[fate.values["email"]][obj] = fate
    for email, holders in wanted.items():
        rows_seen = {id(by_link[(obj, f.id)]) for obj, f in holders.items() if (obj, f.id) in by_link}
        if len(rows_seen) > 1:
            ctx.add("people", email, "email", "one person", f"{len(rows_seen)} people", "doubled")
        owner = "Contact" if "Contact" in holders else "Lead"
        for obj, fate in holders.items():
            row = by_link.get((obj, fate.id))
            if row is None:
                ctx.add(obj, fate.id, link[obj], "linked to an active person", None, "missing")
                continue
            if row["email"] != email:
                ctx.add(obj, fate.id, "email", email, row["email"], "value")
            expected = {c: v for c, v in fate.values.items()
                        if c not in ("email", "unsubscribed") and (obj == owner or c not in shared)}
            _compare(ctx, obj, fate.id, expected, row)
            if fate.values.get("unsubscribed") and not row["unsubscribed"]:
                ctx.add(obj, fate.id, "unsubscribed", True, row["unsubscribed"], "value")
    loaded_ids = {(obj, f.id) for obj, fates in fates_of.items() for f in fates if f.end == "load"}
    for (obj, sf_id), row in by_link.items():
        if (obj, sf_id) not in loaded_ids:
            fate = next((f for f in fates_of.get(obj, []) if f.id == sf_id), None)
            kind = "unexpected" if fate is None else ("not_archived" if fate.end == "gone" else f"linked_but_{fate.end}")
            ctx.add(obj, sf_id, link[obj], "not linked to an active person", row["email"], kind)
    for row in active:
        if all(row[col] is None for col in link.values()):
            ctx.add("people", row["email"], "links", "a Lead or Contact", None, "unexpected")
    emails: dict[str, int] = defaultdict(int)
    for row in active:
        emails[_normal_key(row["email"])] += 1
    for email, n in emails.items():
        if n > 1:
            ctx.add("people", email, "email", 1, n, "doubled")
    for mapping in people:
        _check_accounting(ctx, mapping, fates_of[mapping.object])


def salesforce_client(port: int) -> Salesforce:
    """A simple-salesforce client of the emulator on ``port`` (the emulator's documented login)."""
    return Salesforce(username="etl@example.com", password="emulator-password", security_token="emulator-token",
                      domain=f"127.0.0.1:{port}/login")


def check(sf: Salesforce, warehouse_dsn: str, marketing_dsn: str, objects: Iterable[str] | None = None,
          mappings_dir: Path = MAPPINGS_DIR) -> list[Drift]:
    """Compare Salesforce with the marketing database; return every drift found.

    Args:
        sf: a logged-in simple-salesforce client.
        warehouse_dsn: the sync's warehouse (quarantine and skip records are read there).
        marketing_dsn: the marketing database.
        objects: the mapped objects to check (default: all of them but CampaignMember, whose
            rows link to people and skip members of unknown people: its expectations are in
            tests/dags/test_campaign_members.py, not here).
        mappings_dir: the mapping files whose rules define the expected values.
    """
    mappings = load_mappings(mappings_dir)
    wanted = {o.lower() for o in objects} if objects is not None else None
    chosen = [m for m in mappings.objects
              if (m.object.lower() in wanted if wanted is not None else not m.is_campaign_member)]
    with psycopg.connect(marketing_dsn) as mk, psycopg.connect(warehouse_dsn) as wh:
        ctx = _Context(sf, mk, wh, mappings)
        people = [m for m in chosen if m.is_people]
        if people:
            _check_people(ctx, people)
        for mapping in chosen:
            if not mapping.is_people:
                _check_records(ctx, mapping)
    return ctx.drift
