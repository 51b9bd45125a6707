"""Admin-only writes that no Salesforce API offers: planting raw records and merging.

Real orgs hold data that today's validation would refuse (imported before a rule existed,
written by an old integration, damaged by a migration). ``plant`` stores a record's values
as given, with no coercion, no required-field, reference, uniqueness or picklist check, and
an Id that may be of any shape, so tests can build the dirty org a sync must survive.

``merge`` does what Salesforce's merge does to the losers: they go to the recycle bin with
``MasterRecordId`` pointing at the master, and the records that referenced them are moved
to the master, each such write advancing ``SystemModstamp``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from emulator.dml import DmlError, WriteContext
from emulator.ids import make_id, to_18
from emulator.schema import OBJECTS, ObjectDef, object_for_id
from emulator.store import Store, quote_ident
from emulator.values import now_stamp

MERGEABLE = frozenset({"Account", "Contact", "Lead"})


def plant(store: Store, conn: sqlite3.Connection, obj: ObjectDef, values: dict[str, Any], ctx: WriteContext) -> str:
    """Store one record verbatim and return its Id (the given ``Id``, or a new valid one).

    Field names are matched case-insensitively; unknown names are refused, since a typo in a
    test would otherwise plant nothing. Booleans are stored as 0/1; everything else as given.
    """
    row: dict[str, Any] = {}
    for key, raw in values.items():
        fdef = obj.field(key)
        if fdef is None or fdef.storage is None:
            raise DmlError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
        row[fdef.name] = int(bool(raw)) if fdef.type == "boolean" and isinstance(raw, bool) else raw
    rid = store.next_rid(conn, obj)
    stamp = now_stamp()
    row.setdefault("Id", make_id(obj.key_prefix, rid))
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        row.setdefault(name, stamp)
    for name in ("CreatedById", "LastModifiedById") + (("OwnerId",) if obj.has_owner else ()):
        row.setdefault(name, ctx.user_id)
    row.setdefault("IsDeleted", 0)
    cols = ["rid", *row]
    conn.execute(f"INSERT INTO {quote_ident(obj.name)} ({', '.join(quote_ident(c) for c in cols)}) "
                 f"VALUES ({', '.join('?' for _ in cols)})", [rid, *row.values()])
    return str(row["Id"])


def merge(conn: sqlite3.Connection, obj: ObjectDef, master_id: str, loser_ids: list[str],
          ctx: WriteContext) -> dict[str, Any]:
    """Merge up to two losers into a master, as Salesforce's merge call does.

    Returns ``{"masterId", "mergedIds", "reparented": {"Object.Field": n}}``.
    """
    if obj.name not in MERGEABLE:
        raise DmlError("INVALID_TYPE", f"merge is not supported for {obj.name}")
    if not 1 <= len(loser_ids) <= 2:
        raise DmlError("INVALID_ARGUMENT", "merge takes one or two records to merge into the master")
    master = _live_id(conn, obj, master_id)
    losers = [_live_id(conn, obj, rid) for rid in loser_ids]
    if master in losers:
        raise DmlError("INVALID_ARGUMENT", "the master cannot also be merged into itself")
    stamp = now_stamp()
    table = quote_ident(obj.name)
    marks = ", ".join("?" for _ in losers)
    conn.execute(f"UPDATE {table} SET IsDeleted = 1, _DeletedDate = ?, MasterRecordId = ?, SystemModstamp = ?, "
                 f"LastModifiedDate = ?, LastModifiedById = ? WHERE Id IN ({marks})",
                 [stamp, master, stamp, stamp, ctx.user_id, *losers])
    conn.execute(f"UPDATE {table} SET SystemModstamp = ?, LastModifiedDate = ?, LastModifiedById = ? WHERE Id = ?",
                 (stamp, stamp, ctx.user_id, master))
    reparented: dict[str, int] = {}
    for other in OBJECTS.values():
        for fdef in other.stored_fields:
            if fdef.type != "reference" or obj.name not in fdef.reference_to or fdef.name == "MasterRecordId":
                continue
            cur = conn.execute(f"UPDATE {quote_ident(other.name)} SET {quote_ident(fdef.name)} = ?, "
                               f"SystemModstamp = ? WHERE {quote_ident(fdef.name)} IN ({marks})",
                               [master, stamp, *losers])
            if cur.rowcount:
                reparented[f"{other.name}.{fdef.name}"] = cur.rowcount
    return {"masterId": master, "mergedIds": losers, "reparented": reparented}


def _live_id(conn: sqlite3.Connection, obj: ObjectDef, record_id: str) -> str:
    full = to_18(record_id)
    if full is None or object_for_id(full) is not obj:
        raise DmlError("MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", ["Id"])
    row = conn.execute(f"SELECT IsDeleted FROM {quote_ident(obj.name)} WHERE Id = ?", (full,)).fetchone()
    if row is None:
        raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
    if row[0]:
        raise DmlError("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
    return full
