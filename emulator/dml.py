"""Record writes with Salesforce's validation and error codes.

Shared by REST sObject calls, Bulk 2.0 ingest jobs, the admin endpoint and the change
generator. Every write stamps SystemModstamp and LastModifiedDate with server time
(milliseconds). Call the write methods inside ``store.write()``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from emulator.assignment import assigned_owner
from emulator.ids import make_id, to_18
from emulator.schema import LEAD, OBJECTS, FieldDef, ObjectDef, get_object, object_for_id
from emulator.store import Store, quote_ident
from emulator.values import now_stamp, parse_date, parse_datetime, rest_datetime

_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'&!#$*/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}$")
SYSTEM_STAMPS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
NULL_MARKER = "#N/A"


class DmlError(Exception):
    """A record-level failure in Salesforce's terms (``errorCode``, message, fields)."""

    def __init__(self, code: str, message: str, fields: list[str] | tuple[str, ...] = (), status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.status = status

    def as_rest(self) -> dict[str, Any]:
        """REST error entry: ``{"message", "errorCode", "fields"}``."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def as_bulk(self) -> str:
        """Bulk ``sf__Error`` text: ``CODE:message:Field1,Field2 --``."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


@dataclass
class WriteContext:
    """Who writes and how values arrive.

    Attributes:
        user_id: Id stamped into CreatedById / LastModifiedById (and the default OwnerId).
        source: ``json`` (REST and admin bodies), ``csv`` (Bulk ingest) or ``admin``
            (like json, but read-only fields may be set).
    """

    user_id: str
    source: str = "json"
    touched: dict[str, list[str]] = field(default_factory=dict)
    assignment_rule: str | None = None  # an AssignmentRule Id inserts of Leads and Cases run


def resolve_object(name: str) -> ObjectDef:
    """The sObject called ``name`` or ``DmlError(INVALID_TYPE)``."""
    obj = get_object(name)
    if obj is None:
        raise DmlError("NOT_FOUND", f"The requested resource does not exist: sObject type '{name}' is not supported.",
                       status=404)
    return obj


def _type_error(fdef: FieldDef, raw: Any, ctx: WriteContext) -> DmlError:
    if ctx.source == "csv":
        return DmlError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{fdef.label}: value not of required type: {raw}",
                        [fdef.name])
    return DmlError("JSON_PARSER_ERROR", f"Cannot deserialize instance of {fdef.type} from value {raw!r} "
                    f"for field {fdef.name}", [fdef.name])


def coerce_value(fdef: FieldDef, raw: Any, ctx: WriteContext) -> Any:
    """Convert an incoming value to its stored form, raising DmlError as Salesforce would."""
    if raw is None or (ctx.source == "csv" and raw == NULL_MARKER):
        return 0 if fdef.type == "boolean" else None
    kind = fdef.type
    if kind == "boolean":
        if isinstance(raw, bool):
            return int(raw)
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return 1
        if text in ("false", "0", "no", ""):
            return 0
        raise _type_error(fdef, raw, ctx)
    if kind in ("int", "double", "currency", "percent"):
        if isinstance(raw, bool):
            raise _type_error(fdef, raw, ctx)
        try:
            number = float(raw) if not isinstance(raw, int) else raw
        except (TypeError, ValueError):
            raise _type_error(fdef, raw, ctx) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise _type_error(fdef, raw, ctx)
        if kind == "int":
            if float(number) != int(number):
                raise _type_error(fdef, raw, ctx)
            number = int(number)
            limit = 10 ** (fdef.digits or 9)
        else:
            quantum = Decimal(1).scaleb(-fdef.scale)
            number = float(Decimal(repr(float(number))).quantize(quantum, rounding=ROUND_HALF_UP))
            limit = 10 ** max(fdef.precision - fdef.scale, 1)
        if abs(number) >= limit:
            raise DmlError("NUMBER_OUTSIDE_VALID_RANGE",
                           f"{fdef.label}: value outside of valid range on numeric field: {raw}", [fdef.name])
        return number
    if kind == "date":
        text = str(raw).strip()
        parsed = parse_date(text[:10]) if len(text) >= 10 else None
        if parsed is None or (len(text) > 10 and parse_datetime(text) is None):
            raise _type_error(fdef, raw, ctx)
        return parsed.isoformat()
    if kind == "datetime":
        text = str(raw).strip()
        parsed_dt = parse_datetime(text)
        if parsed_dt is None:
            only_date = parse_date(text)
            if only_date is None:
                raise _type_error(fdef, raw, ctx)
            return only_date.isoformat() + "T00:00:00.000Z"
        moment = parsed_dt[0]
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if kind in ("id", "reference"):
        text = str(raw).strip()
        if text == "":
            return None
        full = to_18(text)
        if full is None:
            raise DmlError("MALFORMED_ID", f"{fdef.label}: id value of incorrect type: {text}", [fdef.name])
        return full
    text = raw if isinstance(raw, str) else (("true" if raw else "false") if isinstance(raw, bool) else str(raw))
    if fdef.picklist and fdef.restricted:
        entry = fdef.picklist_value(text)
        if entry is None or not entry.active:
            raise DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{fdef.label}: bad value for restricted picklist field: {text}", [fdef.name])
    if fdef.length and len(text) > fdef.length:
        raise DmlError("STRING_TOO_LONG", f"{fdef.label}: data value too large: {text[:60]} (max length="
                       f"{fdef.length})", [fdef.name])
    if kind == "email" and text and not _EMAIL_RE.match(text):
        raise DmlError("INVALID_EMAIL_ADDRESS", f"{fdef.label}: invalid email address: {text}", [fdef.name])
    return text


class Dml:
    """Validated inserts, updates, upserts, deletes, undeletes, purges and lead conversions.

    Args:
        store: The org database.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- helpers ---------------------------------------------------------------------------------

    def _canonical(self, obj: ObjectDef, values: dict[str, Any], ctx: WriteContext, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, raw in values.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None or fdef.storage is None:
                raise DmlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            if fdef.name == "Id":
                continue
            if ctx.source != "admin":
                allowed = fdef.createable if creating else fdef.updateable
                if not allowed:
                    raise DmlError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                   f"Unable to create/update fields: {fdef.name}. Please check the security "
                                   "settings of this field and verify that it is read/write for your profile "
                                   "or permission set.", [fdef.name])
            elif fdef.name in ("SystemModstamp", "LastModifiedDate", "IsDeleted"):
                continue
            out[fdef.name] = coerce_value(fdef, raw, ctx)
        return out

    def _check_references(self, conn: sqlite3.Connection, obj: ObjectDef, values: dict[str, Any]) -> None:
        for name, value in values.items():
            fdef = obj.field(name)
            if fdef is None or fdef.type != "reference" or value is None:
                continue
            target = object_for_id(value)
            if target is None or target.name not in fdef.reference_to:
                raise DmlError("FIELD_INTEGRITY_EXCEPTION", f"{fdef.label}: id value of incorrect type: {value}",
                               [fdef.name])
            cols = "IsDeleted, IsActive" if target.name == "User" else "IsDeleted, 1"
            row = conn.execute(f"SELECT {cols} FROM {quote_ident(target.name)} WHERE Id = ?", (value,)).fetchone()
            if row is None:
                raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name])
            if row[0]:
                raise DmlError("ENTITY_IS_DELETED", "entity is deleted", [fdef.name])
            if not row[1]:
                raise DmlError("INACTIVE_OWNER_OR_USER", "owner or user is inactive.", [fdef.name])

    def _check_unique(self, conn: sqlite3.Connection, obj: ObjectDef, values: dict[str, Any], own_id: str | None) -> None:
        for fdef in obj.stored_fields:
            if not fdef.unique or fdef.name == "Id" or values.get(fdef.name) is None:
                continue
            row = conn.execute(f"SELECT Id FROM {quote_ident(obj.name)} WHERE {quote_ident(fdef.name)} = ?",
                               (values[fdef.name],)).fetchone()
            if row is not None and row[0] != own_id:
                raise DmlError("DUPLICATE_VALUE", f"duplicate value found: {fdef.name} duplicates value on record "
                               f"with id: {row[0]}", [fdef.name])

    @staticmethod
    def _derive(obj: ObjectDef, merged: dict[str, Any], changes: dict[str, Any], creating: bool) -> None:
        """Maintain calculated and dependent fields in ``changes`` given the merged record."""
        if obj.field("Name") is not None and obj.field("Name").calculated:
            if creating or "FirstName" in changes or "LastName" in changes:
                first, last = merged.get("FirstName"), merged.get("LastName")
                changes["Name"] = " ".join(p for p in (first, last) if p) or None
        if obj.name == "Opportunity" and (creating or "StageName" in changes):
            stage = obj.field("StageName").picklist_value(merged.get("StageName") or "")
            changes["IsClosed"] = int(bool(stage and stage.closed))
            changes["IsWon"] = int(bool(stage and stage.won))
            if "Probability" not in changes and stage is not None and stage.probability is not None:
                changes["Probability"] = float(stage.probability)
        if obj.name == "CampaignMember" and (creating or "Status" in changes):
            changes["HasResponded"] = int(merged.get("Status") == "Responded")
        if obj.name == "Task" and (creating or "Status" in changes):
            changes["IsClosed"] = int(merged.get("Status") == "Completed")
        if obj.name == "Event" and (creating or "StartDateTime" in changes or "EndDateTime" in changes):
            start, end = merged.get("StartDateTime"), merged.get("EndDateTime")
            if start and end:
                if end < start:
                    raise DmlError("FIELD_INTEGRITY_EXCEPTION", "End Date Time: End time can't be before start "
                                   "time", ["EndDateTime"])
                first, last = parse_datetime(start), parse_datetime(end)
                assert first is not None and last is not None
                changes["DurationInMinutes"] = int((last[0] - first[0]).total_seconds() // 60)
                changes["ActivityDate"] = start[:10]

    def _row(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        cur = conn.execute(f"SELECT * FROM {quote_ident(obj.name)} WHERE Id = ?", (record_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _find(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str, *, for_bulk: bool) -> dict[str, Any]:
        full = to_18(record_id) if isinstance(record_id, str) else None
        if full is None or object_for_id(full) is not obj:
            if for_bulk:
                raise DmlError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", ["Id"])
            raise DmlError("NOT_FOUND", "Provided external ID field does not exist or is not accessible: "
                           f"{record_id}", status=404)
        row = self._row(conn, obj, full)
        if row is None:
            if for_bulk:
                raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
            raise DmlError("NOT_FOUND", "The requested resource does not exist", status=404)
        return row

    def _note(self, ctx: WriteContext, obj: ObjectDef, kind: str, record_id: str) -> None:
        ctx.touched.setdefault(f"{obj.name}:{kind}", []).append(record_id)

    # -- writes ----------------------------------------------------------------------------------

    def insert(self, conn: sqlite3.Connection, obj: ObjectDef, values: dict[str, Any], ctx: WriteContext) -> str:
        """Create a record; returns its Id."""
        if not obj.createable and ctx.source != "admin":
            raise DmlError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", f"entity type {obj.name} does not support insert")
        changes = self._canonical(obj, values, ctx, creating=True)
        for fdef in obj.stored_fields:  # picklist defaults apply to API inserts too
            if fdef.name not in changes and any(p.default for p in fdef.picklist):
                changes[fdef.name] = next(p.value for p in fdef.picklist if p.default)
        missing = [f.name for f in obj.stored_fields if f.required and changes.get(f.name) in (None, "")]
        if missing:
            raise DmlError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        if obj.name == "CampaignMember" and not (changes.get("LeadId") or changes.get("ContactId")):
            raise DmlError("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId, LeadId]",
                           ["ContactId", "LeadId"])
        if obj.has_owner and not changes.get("OwnerId"):
            changes["OwnerId"] = ctx.user_id
        if ctx.assignment_rule and obj.name in ("Lead", "Case"):
            changes["OwnerId"] = assigned_owner(conn, obj.name, ctx.assignment_rule, changes) or changes["OwnerId"]
        self._check_references(conn, obj, changes)
        self._check_unique(conn, obj, changes, None)
        self._derive(obj, changes, changes, creating=True)
        rid = self.store.next_rid(conn, obj)
        record_id = make_id(obj.key_prefix, rid)
        stamp = now_stamp()
        changes.setdefault("CreatedDate", stamp)
        changes.setdefault("CreatedById", ctx.user_id)
        changes.update({"Id": record_id, "IsDeleted": 0, "LastModifiedDate": stamp,
                        "LastModifiedById": ctx.user_id, "SystemModstamp": stamp})
        if obj.field("Name") is not None and obj.field("Name").auto_number:
            changes["Name"] = f"SUB-{rid:07d}"
        cols = ["rid"] + list(changes)
        conn.execute(f"INSERT INTO {quote_ident(obj.name)} ({', '.join(quote_ident(c) for c in cols)}) "
                     f"VALUES ({', '.join('?' for _ in cols)})", [rid, *changes.values()])
        self._note(ctx, obj, "inserted", record_id)
        return record_id

    def update(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str, values: dict[str, Any],
               ctx: WriteContext, *, for_bulk: bool = False, allow_deleted: bool = False) -> str:
        """Change fields of a record; returns its Id."""
        if not obj.updateable and ctx.source != "admin":
            raise DmlError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", f"entity type {obj.name} does not support update")
        row = self._find(conn, obj, record_id, for_bulk=for_bulk)
        if row["IsDeleted"] and not allow_deleted:
            raise DmlError("ENTITY_IS_DELETED", "entity is deleted", status=404 if not for_bulk else 400)
        if obj is LEAD and row["IsConverted"] and ctx.source != "admin":
            raise DmlError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        changes = self._canonical(obj, values, ctx, creating=False)
        merged = {**row, **changes}
        missing = [f.name for f in obj.stored_fields if f.required and f.name in changes
                   and merged.get(f.name) in (None, "")]
        if missing:
            raise DmlError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_references(conn, obj, changes)
        self._check_unique(conn, obj, changes, row["Id"])
        self._derive(obj, merged, changes, creating=False)
        stamp = now_stamp()
        changes.update({"LastModifiedDate": stamp, "LastModifiedById": ctx.user_id, "SystemModstamp": stamp})
        assignments = ", ".join(f"{quote_ident(c)} = ?" for c in changes)
        conn.execute(f"UPDATE {quote_ident(obj.name)} SET {assignments} WHERE rid = ?",
                     [*changes.values(), row["rid"]])
        self._note(ctx, obj, "updated", row["Id"])
        return row["Id"]

    def upsert(self, conn: sqlite3.Connection, obj: ObjectDef, ext_field: str, ext_value: Any,
               values: dict[str, Any], ctx: WriteContext, *, for_bulk: bool = False) -> tuple[str, bool]:
        """Insert or update by external id (or Id); returns ``(id, created)``."""
        fdef = obj.field(ext_field)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise DmlError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {ext_field}",
                           status=404)
        if ext_value in (None, ""):
            raise DmlError("MISSING_ARGUMENT", f"{fdef.name} not specified", [fdef.name])
        if fdef.name == "Id":
            full = to_18(str(ext_value))
            if full is None:
                raise DmlError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {ext_value}", ["Id"])
            return self.update(conn, obj, full, values, ctx, for_bulk=for_bulk), False
        rows = conn.execute(f"SELECT Id FROM {quote_ident(obj.name)} WHERE {quote_ident(fdef.name)} = ? "
                            "AND IsDeleted = 0", (str(ext_value),)).fetchall()
        if len(rows) > 1:
            raise DmlError("DUPLICATE_EXTERNAL_ID", f"{fdef.name}: more than one record found for external id "
                           f"field: {[r[0] for r in rows]}", [fdef.name], status=300)
        body = {k: v for k, v in values.items() if (obj.field(k) or fdef).name != fdef.name}
        if rows:
            return self.update(conn, obj, rows[0][0], body, ctx, for_bulk=for_bulk), False
        body[fdef.name] = ext_value
        return self.insert(conn, obj, body, ctx), True

    def delete(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str, ctx: WriteContext,
               *, for_bulk: bool = False) -> str:
        """Move a record to the recycle bin; returns its Id."""
        if not obj.deletable and ctx.source != "admin":
            raise DmlError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
        row = self._find(conn, obj, record_id, for_bulk=for_bulk)
        if row["IsDeleted"]:
            raise DmlError("ENTITY_IS_DELETED", "entity is deleted", status=404 if not for_bulk else 400)
        stamp = now_stamp()
        conn.execute(f"UPDATE {quote_ident(obj.name)} SET IsDeleted = 1, _DeletedDate = ?, SystemModstamp = ?, "
                     "LastModifiedDate = ?, LastModifiedById = ? WHERE rid = ?",
                     (stamp, stamp, stamp, ctx.user_id, row["rid"]))
        self._note(ctx, obj, "deleted", row["Id"])
        return row["Id"]

    def undelete(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str, ctx: WriteContext) -> str:
        """Restore a record from the recycle bin; returns its Id."""
        row = self._find(conn, obj, record_id, for_bulk=True)
        if not row["IsDeleted"]:
            raise DmlError("UNDELETE_FAILED", "Entity is not in the recycle bin")
        stamp = now_stamp()
        conn.execute(f"UPDATE {quote_ident(obj.name)} SET IsDeleted = 0, _DeletedDate = NULL, SystemModstamp = ?, "
                     "LastModifiedDate = ?, LastModifiedById = ? WHERE rid = ?",
                     (stamp, stamp, ctx.user_id, row["rid"]))
        self._note(ctx, obj, "undeleted", row["Id"])
        return row["Id"]

    def purge(self, conn: sqlite3.Connection, obj: ObjectDef, record_id: str, ctx: WriteContext) -> str:
        """Hard-delete a record (gone even from queryAll); returns its Id."""
        row = self._find(conn, obj, record_id, for_bulk=True)
        conn.execute(f"DELETE FROM {quote_ident(obj.name)} WHERE rid = ?", (row["rid"],))
        self._note(ctx, obj, "purged", row["Id"])
        return row["Id"]

    def convert_lead(self, conn: sqlite3.Connection, lead_id: str, ctx: WriteContext, *,
                     contact_id: str | None = None, account_id: str | None = None,
                     converted_status: str = "Closed - Converted") -> dict[str, str]:
        """Convert a Lead into a Contact (and Account), as the LeadConvert API does."""
        lead = self._find(conn, LEAD, lead_id, for_bulk=True)
        if lead["IsDeleted"]:
            raise DmlError("ENTITY_IS_DELETED", "entity is deleted")
        if lead["IsConverted"]:
            raise DmlError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        contact_obj, account_obj = OBJECTS["Contact"], OBJECTS["Account"]
        sub = WriteContext(ctx.user_id, "admin", ctx.touched)
        if contact_id:
            contact = self._find(conn, contact_obj, contact_id, for_bulk=True)
            account_id = account_id or contact["AccountId"]
        if not account_id:
            account_id = self.insert(conn, account_obj, {"Name": lead["Company"] or "Unknown",
                                                         "Industry": lead["Industry"],
                                                         "OwnerId": lead["OwnerId"]}, sub)
        if not contact_id:
            contact_id = self.insert(conn, contact_obj, {
                "AccountId": account_id, "FirstName": lead["FirstName"], "LastName": lead["LastName"],
                "Email": lead["Email"], "Phone": lead["Phone"], "Title": lead["Title"],
                "LeadSource": lead["LeadSource"], "HasOptedOutOfEmail": bool(lead["HasOptedOutOfEmail"]),
                "Status__c": lead["Status__c"], "Lead_Score__c": lead["Lead_Score__c"],
                "Last_Visit__c": lead["Last_Visit__c"], "OwnerId": lead["OwnerId"]}, sub)
        today = datetime.now(UTC).date().isoformat()
        self.update(conn, LEAD, lead["Id"], {"IsConverted": True, "Status": converted_status,
                                              "ConvertedContactId": contact_id, "ConvertedAccountId": account_id,
                                              "ConvertedDate": today}, WriteContext(ctx.user_id, "admin", {}))
        self._note(ctx, LEAD, "converted", lead["Id"])
        return {"leadId": lead["Id"], "contactId": contact_id, "accountId": account_id}


def record_json(obj: ObjectDef, row: dict[str, Any], version: str, fields: list[str] | None = None) -> dict[str, Any]:
    """REST JSON form of a full stored row (``attributes`` first, every field, compound addresses)."""
    out: dict[str, Any] = {"attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/"
                                                                   f"{row['Id']}"}}
    wanted = None if fields is None else {f.lower() for f in fields}
    for fdef in obj.fields:
        if wanted is not None and fdef.name.lower() not in wanted:
            continue
        out[fdef.name] = json_value(fdef, row)
    return out


def json_value(fdef: FieldDef, row: dict[str, Any]) -> Any:
    """One field of a stored row in REST JSON encoding."""
    if fdef.type == "address":
        parts = {key: row.get(col) for key, col in fdef.components}
        if all(v is None for v in parts.values()):
            return None
        full = {"city": None, "country": None, "geocodeAccuracy": None, "latitude": None, "longitude": None,
                "postalCode": None, "state": None, "street": None}
        full.update(parts)
        return full
    value = row.get(fdef.name)
    if value is None:
        return None
    if fdef.type == "boolean":
        return bool(value)
    if fdef.type == "datetime":
        return rest_datetime(value)
    return value
